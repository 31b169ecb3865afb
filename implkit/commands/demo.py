"""`implkit demo`: the whole chain against the built-in sandbox."""

from __future__ import annotations

import click

from implkit.commands import output_option


@click.command()
@output_option(old=("--out",), name="out_dir", default="demo-out", show_default=True,
               type=click.Path(file_okay=False), help="Folder for everything the demo writes (answers, blueprint, spec, workspace, sandbox db).")
@click.option("--answers", "answers_file", type=click.Path(dir_okay=False, exists=True),
              help="Answers file to size from (default: the shipped B2B services example).")
@click.option("--contacts", default=2000, show_default=True, type=click.IntRange(min=1),
              help="How many contacts to seed into the sandbox account.")
@click.option("--lang", type=click.Choice(["ru", "en"]), default="ru", show_default=True)
def demo(out_dir: str, answers_file: str | None, contacts: int, lang: str) -> int:
    """Run size → compose → validate → show → spec → sandbox → plan → apply → plan → sync → audit.

    Every step is printed as the command line a user would type, then run.
    The sandbox runs on loopback for the length of the demo and is stopped
    at the end, whatever happens.
    """
    from implkit.demo import run_demo

    return run_demo(out_dir, answers_file=answers_file, contacts=contacts, lang=lang)
