import { greet, Shape } from "./lib";
const shapes: Shape[] = [{ kind: "circle", r: 2 }, { kind: "square", side: 3 }];
for (const s of shapes) console.log(greet(s.kind), area(s));
function area(s: Shape): number {
  switch (s.kind) {
    case "circle": return Math.PI * s.r ** 2;
    case "square": return s.side * s.side;
  }
}
