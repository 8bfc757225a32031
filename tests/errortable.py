"""Running a table of user errors through the command line: each must exit 2 with ONE line and write nothing."""

from pathlib import Path

from gruseg.cli import main


def listing(path: Path):
    """Every entry under ``path`` (relative), with sizes and mtimes; None if it does not exist."""
    if not path.exists():
        return None
    if path.is_file():
        return path.stat().st_size, path.stat().st_mtime_ns
    return sorted((str(p.relative_to(path)), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
                  for p in path.rglob("*") if not p.is_symlink())


def error_table_failures(cases, watched, capsys):
    """Run every ``(argv, wanted[, unwanted])`` case; return the problems found (an empty list when all hold).

    ``wanted``/``unwanted``: a phrase or a tuple of phrases the one stderr line must / must not hold.
    ``watched``: directories that must be unchanged afterwards.
    """
    failures = []
    for case in cases:
        argv, wanted = case[0], case[1]
        unwanted = case[2] if len(case) > 2 else ()
        wanted = (wanted,) if isinstance(wanted, str) else wanted
        before = [listing(p) for p in watched]
        code = main(argv)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        problems = [] if code == 2 else [f"exit code {code}"]
        if len(lines) != 1 or not lines[0].startswith("gruseg: error: "):
            problems.append(f"stderr {err!r}")
        else:
            problems += [f"lacks {w!r}" for w in wanted if w not in lines[0]]
            problems += [f"holds {w!r}" for w in unwanted if w in lines[0]]
        if [listing(p) for p in watched] != before:
            problems.append("files changed")
        if problems:
            failures.append(f"{argv}: {'; '.join(problems)}: {lines[-1] if lines else ''}")
    return failures
