#!/usr/bin/env python3
"""No circles between the project's source files, from the symbols their objects define and use.

File A depends on file B when A's object uses (nm: U) a global symbol B's object defines.
Includes are not enough: a map header such as gateway.h lets any file reach any other
without naming it, so the check reads what the compiler actually linked against. Every
strongly connected set of two or more files is a circle; each is reported with one
shortest cycle through it and every use that ties its files together. The gateway's rooms
(ROOMS, as gateway/gateway.h draws them) are also checked to depend downward only.

  no_circles.py --build DIR      the project's objects (DIR/project_objects.txt, written by
                                 CMake; else every *.o under DIR/{common,agent,gateway,tools})
  no_circles.py --objects F.o..  these objects, named by their file name
  no_circles.py --self-test      compile circular tiny C files with cc and show they are reported

Exit status: 0 no circle, 1 circles (listed on stdout), 2 usage or tool error.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile

PROJECT_DIRS = ("common", "agent", "gateway", "tools")
LIST_FILE = "project_objects.txt"

# The gateway's rooms, highest first (gateway/gateway.h): a file may use its own room and
# the rooms below it, never one above.
ROOMS = ("gateway/main.c", "gateway/transport/", "gateway/api/", "gateway/bus/", "gateway/view/",
         "gateway/core/", "common/")


def nm_symbols(obj):
    """(defined, used) global symbol names of one object file."""
    out = subprocess.run(["nm", "-P", "-g", obj], check=True, capture_output=True,
                         text=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            used.add(name)
        elif kind.isupper():
            defined.add(name)
    return defined, used


def source_of(obj, build):
    """gateway/api/rest.c for BUILD/gateway/CMakeFiles/xogateway.dir/api/rest.c.o."""
    marker = os.sep + "CMakeFiles" + os.sep
    at = obj.find(marker)
    if at < 0:
        return os.path.basename(obj)
    target_dir = os.path.relpath(obj[:at], build)
    rest = obj[at + len(marker):]
    rest = rest.split(os.sep, 1)[1] if os.sep in rest else rest  # drop "<target>.dir"
    if rest.endswith(".o"):
        rest = rest[:-2]
    return os.path.normpath(os.path.join(target_dir, rest))


def project_objects(build, src):
    """{source file: object path} for the project's own code (not the tests)."""
    listed = os.path.join(build, LIST_FILE)
    if os.path.exists(listed):
        with open(listed) as f:
            objs = [line.strip() for line in f if line.strip()]
    else:
        objs = []
        for top in PROJECT_DIRS:
            for root, _, files in os.walk(os.path.join(build, top)):
                objs += [os.path.join(root, n) for n in files if n.endswith(".o")]
    files = {}
    for obj in objs:
        name = source_of(obj, build)
        if name.split(os.sep, 1)[0] not in PROJECT_DIRS:
            continue
        if src and not os.path.exists(os.path.join(src, name)):
            continue  # a stale object whose source was removed
        files[name] = obj
    return files


def dependency_graph(files):
    """{file: {file it uses: sorted symbols}} from nm of every object."""
    defs, uses = collections.defaultdict(set), {}
    for name, obj in files.items():
        d, u = nm_symbols(obj)
        uses[name] = u
        for sym in d:
            defs[sym].add(name)
    graph = {name: collections.defaultdict(set) for name in files}
    for name, used in uses.items():
        for sym in used:
            for owner in defs.get(sym, ()):
                if owner != name:
                    graph[name][owner].add(sym)
    return graph


def strongly_connected(graph):
    """Tarjan's algorithm, iterative: the sets of files that reach each other."""
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                scc = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    scc.append(top)
                    if top == node:
                        break
                sccs.append(sorted(scc))
    return sccs


def shortest_cycle(graph, members):
    """One shortest cycle through the first member, inside the set (breadth first)."""
    start, inside = members[0], set(members)
    prev, queue = {start: None}, collections.deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt == start:
                path = [node]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if nxt in inside and nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    return members + [start]


def circles(graph):
    """[(cycle path, [(user, owner, symbols)])] for every circle."""
    found = []
    for scc in strongly_connected(graph):
        if len(scc) < 2:
            continue
        inside = set(scc)
        ties = [(a, b, sorted(graph[a][b])) for a in scc for b in sorted(graph[a]) if b in inside]
        found.append((shortest_cycle(graph, scc), ties))
    return found


def room_of(name):
    """Rank of a file's room (0 highest), or None outside the rooms."""
    for rank, prefix in enumerate(ROOMS):
        if name == prefix or (prefix.endswith("/") and name.startswith(prefix)):
            return rank
    return None


def upward_uses(graph):
    """[(user, owner, symbols)] where a file uses a room above its own."""
    found = []
    for user in sorted(graph):
        mine = room_of(user)
        for owner in sorted(graph[user]):
            theirs = room_of(owner)
            if mine is not None and theirs is not None and theirs < mine:
                found.append((user, owner, sorted(graph[user][owner])))
    return found


def symbols_text(syms):
    return ", ".join(syms[:6]) + (f", ... ({len(syms)} symbols)" if len(syms) > 6 else "")


def report(found, upward, nfiles):
    for i, (cycle, ties) in enumerate(found, 1):
        print(f"circle {i}: " + " -> ".join(cycle))
        if len(set(cycle)) < len({t[0] for t in ties}):
            print("  files that reach each other: " + ", ".join(sorted({t[0] for t in ties})))
        for user, owner, syms in ties:
            print(f"  {user} uses {symbols_text(syms)} (defined in {owner})")
    for user, owner, syms in upward:
        print(f"upward: {user} uses {symbols_text(syms)} (defined in {owner}, a room above)")
    if found or upward:
        print(f"{len(found)} circle(s), {len(upward)} upward use(s) among {nfiles} files: move "
              "what both sides need into a lower file, or pass a callback from the file above")
        return 1
    print(f"no circles among {nfiles} files, and the gateway's rooms depend downward only")
    return 0


def check(files):
    graph = dependency_graph(files)
    return report(circles(graph), upward_uses(graph), len(files))


# ---- self-test: the checker must be able to fail ----

SELF_TEST_SOURCES = {
    # a <-> b: a deliberately circular pair
    "a.c": "int b_value(void);\nint a_value(void) { return 1; }\n"
           "int a_twice(void) { return 2 * b_value(); }\n",
    "b.c": "int a_value(void);\nint b_value(void) { return a_value() + 1; }\n",
    # c uses a, nothing uses c: outside every circle
    "c.c": "int a_value(void);\nint c_value(void) { return a_value(); }\n",
    # x -> y -> z -> x, through a data symbol on the way
    "x.c": "extern int y_table[];\nint x_fn(void) { return y_table[0]; }\n",
    "y.c": "int z_fn(void);\nint y_table[] = {1, 2};\nint y_fn(void) { return z_fn(); }\n",
    "z.c": "int x_fn(void);\nint z_fn(void) { return x_fn(); }\n",
}


def expect(cond, what):
    if not cond:
        raise AssertionError(f"self-test: {what}")


def self_test():
    cc = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory() as tmp:
        objs = {}
        for name, text in SELF_TEST_SOURCES.items():
            src = os.path.join(tmp, name)
            with open(src, "w") as f:
                f.write(text)
            obj = src[:-2] + ".o"
            subprocess.run([cc, "-c", "-o", obj, src], check=True)
            objs[name] = obj

        def run(names):
            return circles(dependency_graph({n: objs[n] for n in names}))

        found = run(["a.c", "b.c", "c.c"])
        expect(len(found) == 1, f"one circle among a, b, c: {found}")
        cycle, ties = found[0]
        expect(set(cycle) == {"a.c", "b.c"}, f"the circle is a <-> b: {cycle}")
        expect(("a.c", "b.c", ["b_value"]) in ties and ("b.c", "a.c", ["a_value"]) in ties,
               f"the symbols that tie a and b: {ties}")
        print("self-test: the circular pair is reported:")
        report(found, [], 3)

        found = run(["x.c", "y.c", "z.c", "c.c", "a.c"])
        expect(len(found) == 1 and set(found[0][0]) == {"x.c", "y.c", "z.c"},
               f"the circle is x -> y -> z -> x: {found}")
        expect(("x.c", "y.c", ["y_table"]) in found[0][1], f"a data symbol ties x to y: {found}")
        print("self-test: the three-file circle is reported:")
        report(found, [], 5)

        # c (named as a core file) uses a (named as an API file): a use upward
        graph = dependency_graph({"gateway/api/a.c": objs["a.c"], "gateway/core/c.c": objs["c.c"]})
        upward = upward_uses(graph)
        expect(upward == [("gateway/core/c.c", "gateway/api/a.c", ["a_value"])],
               f"core using the API is an upward use: {upward}")
        expect(upward_uses({"gateway/api/a.c": {"gateway/core/c.c": {"c_value"}},
                            "gateway/core/c.c": {}}) == [], "the API using core is downward")
        print("self-test: the upward use is reported:")
        report([], upward, 2)

        expect(run(["a.c", "c.c"]) == [], "a one-way dependency is not a circle")
        expect(check({n: objs[n] for n in ["a.c", "c.c"]}) == 0, "no circle: exit status 0")
        expect(check({n: objs[n] for n in ["a.c", "b.c"]}) == 1, "a circle: exit status 1")
    print("self-test: passed")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", help="CMake build directory of the project")
    ap.add_argument("--src", help="source directory (skips objects whose source is gone)")
    ap.add_argument("--objects", nargs="+", help="object files to check")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    try:
        if args.self_test:
            return self_test()
        if args.objects:
            return check({os.path.basename(o): o for o in args.objects})
        if args.build:
            files = project_objects(os.path.abspath(args.build), args.src)
            if not files:
                print(f"no project object files under {args.build}: build first")
                return 2
            return check(files)
    except (OSError, subprocess.CalledProcessError, AssertionError) as e:
        print(f"no_circles: {e}")
        return 2
    ap.print_usage()
    return 2


if __name__ == "__main__":
    sys.exit(main())
