"""Run the README's tour as a new user would, and keep the README's output true to that run.

    .venv/bin/python tools/readme_tour.py            # run the tour, check every shown line (exit 1 on drift)
    .venv/bin/python tools/readme_tour.py --update   # run it and rewrite the shown lines from the run

What the tour is: every fenced block under the README's "A five-minute tour" heading. A line starting
with `$ ` is a command, typed verbatim into one bash session (so `&`, pipes and environment variables
work as in a terminal), with the lines that continue it (after a trailing `\\` or `|`). The other
lines of a block are its output as the README shows it: a selection of the real output, in order,
where a line `…` stands for lines left out and `…` inside a line for the text left out there.
A comment `# exit N` on the command states its exit code (0 when absent); it is checked too.

The run happens in a fresh copy of the repository's tracked files (the working tree's versions, so an
edit is checked before it is committed), with the running interpreter's `bin/` first on PATH: the
state `make demo` / `make test` leave. Nothing is written to the repository except, with --update,
README.md itself.

What varies between runs is normalised before comparing: the ports the README names (8765, 8799)
are swapped for free ones in the commands and back in the output; wall-clock dates and times,
"in 3.3 s" durations and the copy's path become placeholders. A command put in the background
(`… &`) that names `--port N` is waited for until the port accepts connections, as a person would
wait for the "listening" line before typing on — the only step the runner adds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TOUR_HEADING = "## A five-minute tour"
README_PORTS = (8765, 8799)
MARK = "@@implkit-tour@@"
ELIDED = "…"


@dataclass
class Command:
    text: str                   # the command as typed (continuation lines included)
    expected_exit: int
    background_port: int | None
    shown: list[str] = field(default_factory=list)      # the README's output lines for it
    shown_at: list[int] = field(default_factory=list)   # their line numbers in README.md (0-based)


def tour_commands(readme: str) -> list[Command]:
    lines = readme.split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == TOUR_HEADING)
    except StopIteration:
        raise SystemExit(f"README.md has no {TOUR_HEADING!r} heading") from None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    commands: list[Command] = []
    in_block = False
    continuing = False
    current: Command | None = None
    for number in range(start, end):
        line = lines[number]
        if line.startswith("```"):
            in_block = not in_block
            current = None
            continuing = False
            continue
        if not in_block:
            continue
        if continuing and current is not None:
            current.text += "\n" + line
            continuing = _continues(line)
            continue
        if line.startswith("$ "):
            text = line[2:]
            current = Command(text=text, expected_exit=_expected_exit(text), background_port=None)
            commands.append(current)
            continuing = _continues(line)
            continue
        if current is not None:
            current.shown.append(line)
            current.shown_at.append(number)
    for command in commands:
        if re.search(r"&\s*(#.*)?$", command.text.strip()):
            port = re.search(r"--port[ =](\d+)", command.text)
            command.background_port = int(port.group(1)) if port else None
    return commands


def _code(line: str) -> str:
    return line.split("#", 1)[0].rstrip()


def _continues(line: str) -> bool:
    code = _code(line)
    return code.endswith("\\") or code.endswith("|")


def _expected_exit(text: str) -> int:
    found = re.search(r"#\s*exit\s+(\d+)", text)
    return int(found.group(1)) if found else 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fresh_copy(target: Path) -> None:
    """The repository's tracked files as they are in the working tree: what a fresh clone holds,
    plus edits not yet committed (the README under test among them)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    for name in listed.stdout.decode().split("\0"):
        if not name:
            continue
        source = ROOT / name
        if not source.is_file():
            continue                     # deleted in the working tree
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


@dataclass
class Run:
    command: Command
    exit_code: int
    output: list[str]


def run_tour(commands: list[Command], workdir: Path) -> list[Run]:
    ports = {readme_port: _free_port() for readme_port in README_PORTS}
    script = ["exec 2>&1", "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT"]
    for command in commands:
        text = command.text
        for readme_port, real in ports.items():
            text = text.replace(str(readme_port), str(real))
        script.append(text)
        script.append("__tour_exit=$?")
        if command.background_port is not None:
            # wait for the port, then a moment for the server's "listening" lines, so they are its output
            port = ports.get(command.background_port, command.background_port)
            script.append(f"for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; "
                          f"sleep 0.1; done; sleep 0.5")
        script.append(f'echo "{MARK} $__tour_exit"')
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("IMPLKIT_LANG", None)        # the tour shows what a user sees by default
    env["NO_COLOR"] = "1"
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=1200)
    text = done.stdout
    for readme_port, real in ports.items():
        text = text.replace(str(real), str(readme_port))
    text = text.replace(str(workdir), ELIDED)
    runs: list[Run] = []
    chunk: list[str] = []
    for line in text.split("\n"):
        marker = re.fullmatch(rf"(.*){MARK} (\d+)", line)      # output without a final newline comes first
        if marker:
            if marker.group(1):
                chunk.append(marker.group(1).rstrip())
            runs.append(Run(commands[len(runs)], int(marker.group(2)), chunk))
            chunk = []
        else:
            chunk.append(line.rstrip())
    if len(runs) != len(commands):
        raise SystemExit(f"the tour stopped after {len(runs)} of {len(commands)} commands:\n{text[-3000:]}")
    return runs


_VOLATILE = (
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?( ?(UTC|Z|[+-]\d\d:?\d\d))?"), "<time>"),
    (re.compile(r"\bin \d+(\.\d+)? ?s\b"), "in <n> s"),
)


def normalise(line: str) -> str:
    line = line.rstrip()
    for pattern, placeholder in _VOLATILE:
        line = pattern.sub(placeholder, line)
    return line


def _pattern(shown: str) -> re.Pattern[str]:
    parts = [re.escape(normalise(part)) for part in shown.split(ELIDED)]
    return re.compile(".*".join(parts) + r"\s*")


def _next_match(run: Run, shown: str, position: int) -> int | None:
    """The first output line at or after `position` that the README's line `shown` stands for."""
    pattern = _pattern(shown)
    return next((i for i in range(position, len(run.output)) if pattern.fullmatch(normalise(run.output[i]))), None)


def check(run: Run) -> list[str]:
    """What is wrong with the README's lines for this command: each shown line must be a real output
    line, in order; the exit code must be the stated one."""
    problems = []
    if run.exit_code != run.command.expected_exit:
        problems.append(f"exit code {run.exit_code}, the README says {run.command.expected_exit}")
    position = 0
    for line in run.command.shown:
        if line.strip() == ELIDED:
            continue
        found = _next_match(run, line, position)
        if found is None:
            problems.append(f"not in the output (in this order): {line!r}")
        else:
            position = found + 1
    return problems


def update(runs: list[Run], readme_lines: list[str]) -> list[str]:
    """Replace each shown line by the real line it stands for: the first one after the previous
    match that it matches, else the most similar one; lines with `…` inside are left as written
    when they still match."""
    from rapidfuzz import fuzz

    unmatched = []
    for run in runs:
        position = 0
        for line, number in zip(run.command.shown, run.command.shown_at):
            if line.strip() == ELIDED:
                continue
            exact = _next_match(run, line, position)
            if exact is not None:
                if ELIDED not in line:
                    readme_lines[number] = run.output[exact]
                position = exact + 1
                continue
            candidates = range(position, len(run.output))
            best = max(candidates, key=lambda i: fuzz.ratio(line, run.output[i]), default=None)
            if best is None or fuzz.ratio(line, run.output[best]) < 60:
                unmatched.append(f"README.md:{number + 1}: {line!r} — no similar output line after "
                                 f"`$ {run.command.text.splitlines()[0]}`")
                continue
            readme_lines[number] = run.output[best]
            position = best + 1
        if run.exit_code != run.command.expected_exit:
            unmatched.append(f"`$ {run.command.text.splitlines()[0]}` exits {run.exit_code}, "
                             f"the README says {run.command.expected_exit}: fix the command's comment")
    if unmatched:
        print("\n".join(unmatched), file=sys.stderr)
    return readme_lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help="rewrite README.md's shown output from the run")
    parser.add_argument("--keep", metavar="DIR", help="run in DIR (kept) instead of a temporary folder")
    parser.add_argument("--transcript", metavar="FILE", help="also write every command's whole output to FILE")
    args = parser.parse_args(argv)
    readme = README.read_text(encoding="utf-8")
    commands = tour_commands(readme)
    with tempfile.TemporaryDirectory(prefix="implkit-tour-") as scratch:
        workdir = Path(args.keep) if args.keep else Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        _fresh_copy(workdir)
        runs = run_tour(commands, workdir)
    if args.transcript:
        Path(args.transcript).write_text(
            "".join(f"$ {run.command.text}\n" + "\n".join(run.output) + f"\n[exit {run.exit_code}]\n\n"
                    for run in runs), encoding="utf-8")
    if args.update:
        README.write_text("\n".join(update(runs, readme.split("\n"))), encoding="utf-8")
        print(f"README.md: the tour's {sum(len(c.shown) for c in commands)} shown lines refreshed from "
              f"{len(commands)} commands")
        return 0
    failures = 0
    for run in runs:
        for problem in check(run):
            failures += 1
            print(f"`$ {run.command.text.splitlines()[0]}`: {problem}", file=sys.stderr)
    if failures:
        print(f"{failures} difference(s) between the README's tour and a real run "
              f"(`tools/readme_tour.py --update` refreshes the shown lines)", file=sys.stderr)
        return 1
    print(f"the README's tour ran: {len(commands)} commands, every shown line and exit code as written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
