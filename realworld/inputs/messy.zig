const std = @import("std");
pub fn main() void {
const x:u32=  5;
    var list = [_]u8{1,2,3};
    _ = list;
  std.debug.print("{d}\n",.{x});
}
