"""What every bench shares: the programs it needs checked before anything starts, and
errors printed as one clear line (never a traceback: benches are user tools)."""
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402

BUILD_HINT = "cmake --build {build} --target benches"


class BenchError(Exception):
    """A failure the user can act on; printed as 'error: ...' without a traceback."""


def require(*names):
    """Paths of the named programs; a BenchError naming the build command if one is missing."""
    paths, missing = {}, []
    for n in names:
        try:
            paths[n] = harness.binary(n)
        except FileNotFoundError:
            missing.append(n)
    if missing:
        raise BenchError(f"{', '.join(missing)} not built under {harness.build_dir()}: run "
                         f"'{BUILD_HINT.format(build=harness.build_dir())}' "
                         "(or set XO_BUILD_DIR to the build directory)")
    return paths


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def cpu_s(pid):
    """User + system CPU seconds of a process so far (0.0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_main(main):
    """Run a bench's main: ^C and failures end with one line on stderr and exit status 1."""
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # a bench is a user tool: say what failed, not where
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
