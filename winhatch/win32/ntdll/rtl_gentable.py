"""ntdll's generic tables and splay trees, on the guest's own structures (ntddk.h layouts):

* splay links (RTL_SPLAY_LINKS: Parent, LeftChild, RightChild; a root is its own parent): RtlSplay, RtlDelete,
  RtlDeleteNoSplay, RtlSubtreeSuccessor/Predecessor, RtlRealSuccessor/Predecessor;
* RTL_GENERIC_TABLE (a splay tree; elements also on InsertOrderList): RtlInitializeGenericTable,
  RtlInsertElementGenericTable(Full), RtlDeleteElementGenericTable, RtlLookupElementGenericTable(Full),
  RtlEnumerateGenericTable, RtlEnumerateGenericTableWithoutSplaying, RtlGetElementGenericTable (insertion
  order), RtlNumberGenericTableElements, RtlIsGenericTableEmpty;
* RTL_AVL_TABLE (an AVL tree under the table's BalancedRoot, whose RightChild is the tree's root): the same
  family with the Avl suffix, plus RtlLookupFirstMatchingElementGenericTableAvl; RtlGetElementGenericTableAvl
  counts in collation order.

Elements are allocated by the table's AllocateRoutine (guest code) as a header followed by the caller's data:
RTL_SPLAY_LINKS + LIST_ENTRY for a generic table, RTL_BALANCED_LINKS for an AVL table, the data aligned to
8 bytes; CompareRoutine and FreeRoutine are guest code too. An AVL insertion retraces the balances with at most one
(single or double) rotation; an AVL deletion rebuilds the tree balanced (O(n)): the shape may differ from Windows's, the ordering and the AVL
invariants do not. Every walk is bounded by the element count (a corrupted tree stops loudly).
"""
from __future__ import annotations

from winhatch.ntstatus import NtStatusError
from winhatch.win32.api import api

NT = "ntdll.dll"
LESS, GREATER, EQUAL = 0, 1, 2
# TABLE_SEARCH_RESULT
EMPTY_TREE, FOUND_NODE, INSERT_AS_LEFT, INSERT_AS_RIGHT = 0, 1, 2, 3
MAX_NODES = 1 << 24


def _bad(what: str):
    raise NtStatusError(0xC0000005, f"generic table: {what}")


# ------------------------------------------------------------------------------------------ splay links
def _p(c):
    return c.ptr_size


def parent(c, n):
    return c.ptr(n)


def left(c, n):
    return c.ptr(n + _p(c))


def right(c, n):
    return c.ptr(n + 2 * _p(c))


def set_parent(c, n, v):
    c.write_ptr(n, v)


def set_left(c, n, v):
    c.write_ptr(n + _p(c), v)


def set_right(c, n, v):
    c.write_ptr(n + 2 * _p(c), v)


def is_root(c, n):
    return parent(c, n) == n


def _rotate_up(c, x):
    """Rotate x above its parent (a single zig), keeping the root's self-parent convention."""
    p = parent(c, x)
    g = parent(c, p)
    p_root = g == p
    if left(c, p) == x:
        b = right(c, x)
        set_left(c, p, b)
        if b:
            set_parent(c, b, p)
        set_right(c, x, p)
    else:
        b = left(c, x)
        set_right(c, p, b)
        if b:
            set_parent(c, b, p)
        set_left(c, x, p)
    set_parent(c, p, x)
    if p_root:
        set_parent(c, x, x)
    else:
        if left(c, g) == p:
            set_left(c, g, x)
        else:
            set_right(c, g, x)
        set_parent(c, x, g)


def splay(c, x):
    for _ in range(MAX_NODES):
        if is_root(c, x):
            return x
        p = parent(c, x)
        if is_root(c, p):
            _rotate_up(c, x)
            return x
        g = parent(c, p)
        if (left(c, g) == p) == (left(c, p) == x):
            _rotate_up(c, p)       # zig-zig
            _rotate_up(c, x)
        else:
            _rotate_up(c, x)       # zig-zag
            _rotate_up(c, x)
    _bad("splay links form a cycle")


def subtree_successor(c, n):
    r = right(c, n)
    if not r:
        return 0
    for _ in range(MAX_NODES):
        l = left(c, r)
        if not l:
            return r
        r = l
    _bad("cycle")


def subtree_predecessor(c, n):
    l = left(c, n)
    if not l:
        return 0
    for _ in range(MAX_NODES):
        r = right(c, l)
        if not r:
            return l
        l = r
    _bad("cycle")


def real_successor(c, n):
    s = subtree_successor(c, n)
    if s:
        return s
    for _ in range(MAX_NODES):
        if is_root(c, n):
            return 0
        p = parent(c, n)
        if left(c, p) == n:
            return p
        n = p
    _bad("cycle")


def real_predecessor(c, n):
    s = subtree_predecessor(c, n)
    if s:
        return s
    for _ in range(MAX_NODES):
        if is_root(c, n):
            return 0
        p = parent(c, n)
        if right(c, p) == n:
            return p
        n = p
    _bad("cycle")


def delete_no_splay(c, n) -> int:
    """Unlink n (its in-order predecessor takes its place when it has two children); returns the new root of
    the tree, 0 when it becomes empty."""
    l, r = left(c, n), right(c, n)
    was_root, p = is_root(c, n), parent(c, n)
    if l and r:
        s = subtree_predecessor(c, n)        # the rightmost node of the left subtree: no right child
        sp = parent(c, s)
        if sp != n:
            sl = left(c, s)
            set_right(c, sp, sl)
            if sl:
                set_parent(c, sl, sp)
            set_left(c, s, l)
            set_parent(c, l, s)
        set_right(c, s, r)
        set_parent(c, r, s)
        repl = s
    else:
        repl = l or r
    if was_root:
        if repl:
            set_parent(c, repl, repl)
        return repl
    if left(c, p) == n:
        set_left(c, p, repl)
    else:
        set_right(c, p, repl)
    if repl:
        set_parent(c, repl, p)
    root = p
    for _ in range(MAX_NODES):
        if is_root(c, root):
            return root
        root = parent(c, root)
    _bad("cycle")


@api(NT, "PRTL_SPLAY_LINKS NTAPI RtlSplay(PRTL_SPLAY_LINKS Links)")
def RtlSplay(c, n):
    return splay(c, n)


@api(NT, "PRTL_SPLAY_LINKS NTAPI RtlDelete(PRTL_SPLAY_LINKS Links)")
def RtlDelete(c, n):
    root = delete_no_splay(c, n)
    p = 0 if not root else root
    return splay(c, p) if p else 0


@api(NT, "void NTAPI RtlDeleteNoSplay(PRTL_SPLAY_LINKS Links, PRTL_SPLAY_LINKS *Root)")
def RtlDeleteNoSplay(c, n, proot):
    c.write_ptr(proot, delete_no_splay(c, n))


@api(NT, "PRTL_SPLAY_LINKS NTAPI RtlSubtreeSuccessor(PRTL_SPLAY_LINKS Links)")
def RtlSubtreeSuccessor(c, n):
    return subtree_successor(c, n)


@api(NT, "PRTL_SPLAY_LINKS NTAPI RtlSubtreePredecessor(PRTL_SPLAY_LINKS Links)")
def RtlSubtreePredecessor(c, n):
    return subtree_predecessor(c, n)


@api(NT, "PRTL_SPLAY_LINKS NTAPI RtlRealSuccessor(PRTL_SPLAY_LINKS Links)")
def RtlRealSuccessor(c, n):
    return real_successor(c, n)


@api(NT, "PRTL_SPLAY_LINKS NTAPI RtlRealPredecessor(PRTL_SPLAY_LINKS Links)")
def RtlRealPredecessor(c, n):
    return real_predecessor(c, n)


# ------------------------------------------------------------------------------------------ RTL_GENERIC_TABLE
class _G:
    """Offsets in RTL_GENERIC_TABLE for the pointer size."""

    def __init__(self, p: int):
        self.root = 0
        self.order = p                  # InsertOrderList (LIST_ENTRY)
        self.ordered_ptr = 3 * p
        self.which = 4 * p
        self.count = 4 * p + 4
        self.compare = 4 * p + 8
        self.allocate = 5 * p + 8
        self.free = 6 * p + 8
        self.context = 7 * p + 8
        self.data = 5 * p if p == 8 else 24     # TABLE_ENTRY_HEADER: splay links, LIST_ENTRY, then 8-aligned data
        self.list = 3 * p                       # the element's LIST_ENTRY


def _g(c) -> _G:
    return _G(c.ptr_size)


def _call(c, fn, args):
    return c.machine.dispatcher.call_guest(c.thread, fn, args)


def _compare(c, table, fn, a, b) -> int:
    r = _call(c, fn, [table, a, b]) & 0xFFFFFFFF
    if r not in (LESS, GREATER, EQUAL):
        _bad(f"compare routine returned {r}")
    return r


@api(NT, "void NTAPI RtlInitializeGenericTable(PRTL_GENERIC_TABLE Table, PVOID CompareRoutine, "
         "PVOID AllocateRoutine, PVOID FreeRoutine, PVOID TableContext)")
def RtlInitializeGenericTable(c, t, cmp, alloc, free, ctx):
    g = _g(c)
    c.write_ptr(t + g.root, 0)
    c.write_ptr(t + g.order, t + g.order)
    c.write_ptr(t + g.order + c.ptr_size, t + g.order)
    c.write_ptr(t + g.ordered_ptr, t + g.order)
    c.write_u32(t + g.which, 0)
    c.write_u32(t + g.count, 0)
    c.write_ptr(t + g.compare, cmp)
    c.write_ptr(t + g.allocate, alloc)
    c.write_ptr(t + g.free, free)
    c.write_ptr(t + g.context, ctx)


def _find(c, t, g, buf):
    """(node, result) of a search from the root: FOUND_NODE or where to insert."""
    n = c.ptr(t + g.root)
    if not n:
        return 0, EMPTY_TREE
    cmp = c.ptr(t + g.compare)
    for _ in range(MAX_NODES):
        r = _compare(c, t, cmp, buf, n + g.data)
        if r == EQUAL:
            return n, FOUND_NODE
        nxt = left(c, n) if r == LESS else right(c, n)
        if not nxt:
            return n, INSERT_AS_LEFT if r == LESS else INSERT_AS_RIGHT
        n = nxt
    _bad("cycle")


def _insert(c, t, buf, size, pnew, node, result):
    g = _g(c)
    if result == FOUND_NODE:
        c.write_ptr(t + g.root, splay(c, node))
        if pnew:
            c.write(pnew, b"\0")
        return node + g.data
    n = _call(c, c.ptr(t + g.allocate), [t, g.data + size])
    if not n:
        return 0
    if size:
        c.write(n + g.data, c.read(buf, size))
    set_left(c, n, 0)
    set_right(c, n, 0)
    if result == EMPTY_TREE:
        set_parent(c, n, n)
    else:
        set_parent(c, n, node)
        (set_left if result == INSERT_AS_LEFT else set_right)(c, node, n)
    # append to InsertOrderList
    head = t + g.order
    tail = c.ptr(head + c.ptr_size)
    e = n + g.list
    c.write_ptr(e, head)
    c.write_ptr(e + c.ptr_size, tail)
    c.write_ptr(tail, e)
    c.write_ptr(head + c.ptr_size, e)
    c.write_u32(t + g.count, c.u32(t + g.count) + 1)
    c.write_ptr(t + g.root, splay(c, n))
    if pnew:
        c.write(pnew, b"\x01")
    return n + g.data


@api(NT, "PVOID NTAPI RtlInsertElementGenericTable(PRTL_GENERIC_TABLE Table, PVOID Buffer, CLONG BufferSize, "
         "PBOOLEAN NewElement)", calls_guest=True)
def RtlInsertElementGenericTable(c, t, buf, size, pnew):
    node, result = _find(c, t, _g(c), buf)
    return _insert(c, t, buf, size, pnew, node, result)


@api(NT, "PVOID NTAPI RtlInsertElementGenericTableFull(PRTL_GENERIC_TABLE Table, PVOID Buffer, CLONG BufferSize, "
         "PBOOLEAN NewElement, PVOID NodeOrParent, TABLE_SEARCH_RESULT SearchResult)", calls_guest=True)
def RtlInsertElementGenericTableFull(c, t, buf, size, pnew, node, result):
    return _insert(c, t, buf, size, pnew, node, result)


@api(NT, "PVOID NTAPI RtlLookupElementGenericTable(PRTL_GENERIC_TABLE Table, PVOID Buffer)", calls_guest=True)
def RtlLookupElementGenericTable(c, t, buf):
    g = _g(c)
    node, result = _find(c, t, g, buf)
    if node:
        c.write_ptr(t + g.root, splay(c, node))
    return node + g.data if result == FOUND_NODE else 0


@api(NT, "PVOID NTAPI RtlLookupElementGenericTableFull(PRTL_GENERIC_TABLE Table, PVOID Buffer, PVOID *NodeOrParent, "
         "TABLE_SEARCH_RESULT *SearchResult)", calls_guest=True)
def RtlLookupElementGenericTableFull(c, t, buf, pnode, presult):
    g = _g(c)
    node, result = _find(c, t, g, buf)
    c.write_ptr(pnode, node)
    c.write_u32(presult, result)
    return node + g.data if result == FOUND_NODE else 0


@api(NT, "BOOLEAN NTAPI RtlDeleteElementGenericTable(PRTL_GENERIC_TABLE Table, PVOID Buffer)", calls_guest=True)
def RtlDeleteElementGenericTable(c, t, buf):
    g = _g(c)
    node, result = _find(c, t, g, buf)
    if result != FOUND_NODE:
        if node:
            c.write_ptr(t + g.root, splay(c, node))
        return 0
    root = delete_no_splay(c, node)
    c.write_ptr(t + g.root, splay(c, root) if root else 0)
    e = node + g.list
    fl, bl = c.ptr(e), c.ptr(e + c.ptr_size)
    c.write_ptr(bl, fl)
    c.write_ptr(fl + c.ptr_size, bl)
    c.write_u32(t + g.count, c.u32(t + g.count) - 1)
    c.write_ptr(t + g.ordered_ptr, t + g.order)     # the insertion-order cursor restarts
    c.write_u32(t + g.which, 0)
    _call(c, c.ptr(t + g.free), [t, node])
    return 1


def _leftmost(c, n):
    for _ in range(MAX_NODES):
        l = left(c, n)
        if not l:
            return n
        n = l
    _bad("cycle")


@api(NT, "PVOID NTAPI RtlEnumerateGenericTable(PRTL_GENERIC_TABLE Table, BOOLEAN Restart)")
def RtlEnumerateGenericTable(c, t, restart):
    """Restart: the first element, splayed to the root; then the root's successor, splayed in turn."""
    g = _g(c)
    root = c.ptr(t + g.root)
    if not root:
        return 0
    n = _leftmost(c, root) if restart & 0xFF else real_successor(c, root)
    if not n:
        return 0
    c.write_ptr(t + g.root, splay(c, n))
    return n + g.data


@api(NT, "PVOID NTAPI RtlEnumerateGenericTableWithoutSplaying(PRTL_GENERIC_TABLE Table, PVOID *RestartKey)")
def RtlEnumerateGenericTableWithoutSplaying(c, t, pkey):
    g = _g(c)
    root = c.ptr(t + g.root)
    if not root:
        return 0
    key = c.ptr(pkey)
    n = _leftmost(c, root) if not key else real_successor(c, key)
    c.write_ptr(pkey, n)
    return n + g.data if n else 0


@api(NT, "PVOID NTAPI RtlGetElementGenericTable(PRTL_GENERIC_TABLE Table, ULONG I)")
def RtlGetElementGenericTable(c, t, i):
    """The I-th element (from 0) in insertion order."""
    g = _g(c)
    if i >= c.u32(t + g.count):
        return 0
    e = c.ptr(t + g.order)
    for _ in range(i):
        e = c.ptr(e)
    c.write_ptr(t + g.ordered_ptr, e)
    c.write_u32(t + g.which, i + 1)
    return e - g.list + g.data


@api(NT, "ULONG NTAPI RtlNumberGenericTableElements(PRTL_GENERIC_TABLE Table)")
def RtlNumberGenericTableElements(c, t):
    return c.u32(t + _g(c).count)


@api(NT, "BOOLEAN NTAPI RtlIsGenericTableEmpty(PRTL_GENERIC_TABLE Table)")
def RtlIsGenericTableEmpty(c, t):
    return int(c.ptr(t + _g(c).root) == 0)


# ------------------------------------------------------------------------------------------ RTL_AVL_TABLE
class _A:
    """Offsets in RTL_AVL_TABLE (BalancedRoot is an RTL_BALANCED_LINKS: three pointers, CHAR Balance)."""

    def __init__(self, p: int):
        self.links = 4 * p                    # sizeof(RTL_BALANCED_LINKS), 8-aligned data follows
        self.balance = 3 * p
        o = self.links
        self.ordered_ptr = o
        self.which = o + p
        self.count = o + p + 4
        self.depth = o + p + 8
        self.restart = o + p + 16 if p == 8 else o + p + 12
        self.delete_count = self.restart + p
        self.compare = self.delete_count + p if p == 8 else self.delete_count + 4
        self.allocate = self.compare + p
        self.free = self.allocate + p
        self.context = self.free + p
        self.data = self.links


def _a(c) -> _A:
    return _A(c.ptr_size)


def _bal(c, a, n) -> int:
    b = c.read(n + a.balance, 1)[0]
    return b - 256 if b > 127 else b


def _set_bal(c, a, n, v):
    c.write(n + a.balance, bytes([v & 0xFF]))


@api(NT, "void NTAPI RtlInitializeGenericTableAvl(PRTL_AVL_TABLE Table, PVOID CompareRoutine, "
         "PVOID AllocateRoutine, PVOID FreeRoutine, PVOID TableContext)")
def RtlInitializeGenericTableAvl(c, t, cmp, alloc, free, ctx):
    a = _a(c)
    c.write(t, bytes(a.context + c.ptr_size))
    set_parent(c, t, t)                      # the BalancedRoot is its own parent
    c.write_ptr(t + a.compare, cmp)
    c.write_ptr(t + a.allocate, alloc)
    c.write_ptr(t + a.free, free)
    c.write_ptr(t + a.context, ctx)


def _avl_root(c, t):
    return right(c, t)


def _avl_find(c, t, a, buf):
    n = _avl_root(c, t)
    if not n:
        return 0, EMPTY_TREE
    cmp = c.ptr(t + a.compare)
    for _ in range(MAX_NODES):
        r = _compare(c, t, cmp, buf, n + a.data)
        if r == EQUAL:
            return n, FOUND_NODE
        nxt = left(c, n) if r == LESS else right(c, n)
        if not nxt:
            return n, INSERT_AS_LEFT if r == LESS else INSERT_AS_RIGHT
        n = nxt
    _bad("cycle")


def _avl_rotate(c, x):
    """Rotate x above its parent (the table's BalancedRoot stays the top)."""
    p = parent(c, x)
    g = parent(c, p)
    if left(c, p) == x:
        b = right(c, x)
        set_left(c, p, b)
        if b:
            set_parent(c, b, p)
        set_right(c, x, p)
    else:
        b = left(c, x)
        set_right(c, p, b)
        if b:
            set_parent(c, b, p)
        set_left(c, x, p)
    set_parent(c, p, x)
    set_parent(c, x, g)
    if left(c, g) == p:
        set_left(c, g, x)
    else:
        set_right(c, g, x)


def _avl_retrace(c, t, a, n) -> bool:
    """After inserting leaf n: update the balances (right height - left height) up the path, rotating once
    where a node reaches +-2. True when the tree grew one level taller."""
    child, x = n, parent(c, n)
    for _ in range(MAX_NODES):
        if x == t:
            return True
        b = _bal(c, a, x) + (1 if right(c, x) == child else -1)
        if b == 0:
            _set_bal(c, a, x, 0)
            return False
        if b in (1, -1):
            _set_bal(c, a, x, b)
            child, x = x, parent(c, x)
            continue
        # b is +2 or -2: child is the heavy side
        cb = _bal(c, a, child)
        if cb == (1 if b > 0 else -1):            # single rotation
            _avl_rotate(c, child)
            _set_bal(c, a, x, 0)
            _set_bal(c, a, child, 0)
        else:                                      # double rotation
            g = left(c, child) if b > 0 else right(c, child)
            gb = _bal(c, a, g)
            _avl_rotate(c, g)
            _avl_rotate(c, g)
            s = 1 if b > 0 else -1
            _set_bal(c, a, x, -s if gb == s else 0)
            _set_bal(c, a, child, s if gb == -s else 0)
            _set_bal(c, a, g, 0)
        return False
    _bad("cycle")


def _avl_insert(c, t, buf, size, pnew, node, result):
    a = _a(c)
    if result == FOUND_NODE:
        if pnew:
            c.write(pnew, b"\0")
        return node + a.data
    n = _call(c, c.ptr(t + a.allocate), [t, a.data + size])
    if not n:
        return 0
    if size:
        c.write(n + a.data, c.read(buf, size))
    set_left(c, n, 0)
    set_right(c, n, 0)
    _set_bal(c, a, n, 0)
    if result == EMPTY_TREE:
        set_parent(c, n, t)
        set_right(c, t, n)
    else:
        set_parent(c, n, node)
        (set_left if result == INSERT_AS_LEFT else set_right)(c, node, n)
    c.write_u32(t + a.count, c.u32(t + a.count) + 1)
    if _avl_retrace(c, t, a, n):
        c.write_u32(t + a.depth, c.u32(t + a.depth) + 1)
    c.write_ptr(t + a.ordered_ptr, 0)
    c.write_u32(t + a.which, 0)
    if pnew:
        c.write(pnew, b"\x01")
    return n + a.data


@api(NT, "PVOID NTAPI RtlInsertElementGenericTableAvl(PRTL_AVL_TABLE Table, PVOID Buffer, CLONG BufferSize, "
         "PBOOLEAN NewElement)", calls_guest=True)
def RtlInsertElementGenericTableAvl(c, t, buf, size, pnew):
    node, result = _avl_find(c, t, _a(c), buf)
    return _avl_insert(c, t, buf, size, pnew, node, result)


@api(NT, "PVOID NTAPI RtlInsertElementGenericTableFullAvl(PRTL_AVL_TABLE Table, PVOID Buffer, CLONG BufferSize, "
         "PBOOLEAN NewElement, PVOID NodeOrParent, TABLE_SEARCH_RESULT SearchResult)", calls_guest=True)
def RtlInsertElementGenericTableFullAvl(c, t, buf, size, pnew, node, result):
    return _avl_insert(c, t, buf, size, pnew, node, result)


@api(NT, "PVOID NTAPI RtlLookupElementGenericTableAvl(PRTL_AVL_TABLE Table, PVOID Buffer)", calls_guest=True)
def RtlLookupElementGenericTableAvl(c, t, buf):
    a = _a(c)
    node, result = _avl_find(c, t, a, buf)
    return node + a.data if result == FOUND_NODE else 0


@api(NT, "PVOID NTAPI RtlLookupElementGenericTableFullAvl(PRTL_AVL_TABLE Table, PVOID Buffer, PVOID *NodeOrParent, "
         "TABLE_SEARCH_RESULT *SearchResult)", calls_guest=True)
def RtlLookupElementGenericTableFullAvl(c, t, buf, pnode, presult):
    a = _a(c)
    node, result = _avl_find(c, t, a, buf)
    c.write_ptr(pnode, node)
    c.write_u32(presult, result)
    return node + a.data if result == FOUND_NODE else 0


def _inorder(c, t) -> list[int]:
    out, stack, n = [], [], _avl_root(c, t)
    limit = c.u32(t + _a(c).count) + 1
    while (stack or n) and len(out) <= limit:
        while n:
            stack.append(n)
            n = left(c, n)
            if len(stack) > limit:
                _bad("cycle")
        n = stack.pop()
        out.append(n)
        n = right(c, n)
    return out


def _avl_build(c, a, nodes: list[int], lo: int, hi: int, par: int) -> tuple[int, int]:
    """A balanced subtree of nodes[lo:hi] under par; (root, height)."""
    if lo >= hi:
        return 0, 0
    mid = (lo + hi) // 2
    n = nodes[mid]
    set_parent(c, n, par)
    l, hl = _avl_build(c, a, nodes, lo, mid, n)
    r, hr = _avl_build(c, a, nodes, mid + 1, hi, n)
    set_left(c, n, l)
    set_right(c, n, r)
    _set_bal(c, a, n, hr - hl)
    return n, 1 + max(hl, hr)


@api(NT, "BOOLEAN NTAPI RtlDeleteElementGenericTableAvl(PRTL_AVL_TABLE Table, PVOID Buffer)", calls_guest=True)
def RtlDeleteElementGenericTableAvl(c, t, buf):
    a = _a(c)
    node, result = _avl_find(c, t, a, buf)
    if result != FOUND_NODE:
        return 0
    nodes = [n for n in _inorder(c, t) if n != node]
    root, h = _avl_build(c, a, nodes, 0, len(nodes), t)
    set_right(c, t, root)
    c.write_u32(t + a.count, len(nodes))
    c.write_u32(t + a.depth, h)
    c.write_u32(t + a.delete_count, c.u32(t + a.delete_count) + 1)
    c.write_ptr(t + a.ordered_ptr, 0)
    c.write_u32(t + a.which, 0)
    c.write_ptr(t + a.restart, 0)
    _call(c, c.ptr(t + a.free), [t, node])
    return 1


def _avl_successor(c, t, n):
    s = subtree_successor(c, n)
    if s:
        return s
    for _ in range(MAX_NODES):
        p = parent(c, n)
        if p == t:
            return 0
        if left(c, p) == n:
            return p
        n = p
    _bad("cycle")


@api(NT, "PVOID NTAPI RtlEnumerateGenericTableAvl(PRTL_AVL_TABLE Table, BOOLEAN Restart)")
def RtlEnumerateGenericTableAvl(c, t, restart):
    """The table keeps the last element returned in RestartKey."""
    a = _a(c)
    root = _avl_root(c, t)
    if not root:
        return 0
    key = 0 if restart & 0xFF else c.ptr(t + a.restart)
    n = _leftmost(c, root) if not key else _avl_successor(c, t, key)
    c.write_ptr(t + a.restart, n)
    return n + a.data if n else 0


@api(NT, "PVOID NTAPI RtlEnumerateGenericTableWithoutSplayingAvl(PRTL_AVL_TABLE Table, PVOID *RestartKey)")
def RtlEnumerateGenericTableWithoutSplayingAvl(c, t, pkey):
    a = _a(c)
    root = _avl_root(c, t)
    if not root:
        return 0
    key = c.ptr(pkey)
    n = _leftmost(c, root) if not key else _avl_successor(c, t, key)
    c.write_ptr(pkey, n)
    return n + a.data if n else 0


@api(NT, "PVOID NTAPI RtlGetElementGenericTableAvl(PRTL_AVL_TABLE Table, ULONG I)")
def RtlGetElementGenericTableAvl(c, t, i):
    """The I-th element (from 0) in collation order."""
    a = _a(c)
    if i >= c.u32(t + a.count):
        return 0
    nodes = _inorder(c, t)
    c.write_ptr(t + a.ordered_ptr, nodes[i])
    c.write_u32(t + a.which, i + 1)
    return nodes[i] + a.data


@api(NT, "ULONG NTAPI RtlNumberGenericTableElementsAvl(PRTL_AVL_TABLE Table)")
def RtlNumberGenericTableElementsAvl(c, t):
    return c.u32(t + _a(c).count)


@api(NT, "BOOLEAN NTAPI RtlIsGenericTableEmptyAvl(PRTL_AVL_TABLE Table)")
def RtlIsGenericTableEmptyAvl(c, t):
    return int(_avl_root(c, t) == 0)
