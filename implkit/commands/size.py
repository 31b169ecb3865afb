"""`implkit size`: the questionnaire → seller group and feature relevance."""

from __future__ import annotations

import click


@click.command()
@click.option("--answers", "answers_file", type=click.Path(dir_okay=False),
              help="Read the answers from FILE instead of asking (no prompts; for CI).")
@click.option("--lang", type=click.Choice(["ru", "en"]), default=None,
              help="Language of the questions and the result [default: ru, or the answers file's].")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the answers to this file (comments in an existing one are kept). "
                   "Interactive default: answers.yaml.")
@click.option("--force", is_flag=True,
              help="Overwrite an existing answers file without asking (its answers are still the defaults).")
def size(answers_file: str | None, lang: str | None, output: str | None, force: bool) -> int:
    """Size a company: ask the questionnaire (or read --answers), print the seller group
    and every feature's relevance (★★★ essential, ★★ recommended, ★ optional) with the reason.

    Seller groups: 1–2, 3–5, 6–10, 11–30, 31–100; more than 100 sellers use the last group,
    with a note. Exit 3 on a bad or missing answer, listing every problem.

    The interview keeps a draft (answers.draft.yaml next to the output) after each
    answer; after Ctrl-C or end of input, the next run offers to resume it.
    """
    from implkit.sizing.session import run_size

    result = run_size(answers_file=answers_file, lang=lang, output=output, force=force)
    click.echo(result.report)
    if result.written:
        click.echo(f"answers: {result.written}", err=True)
    return 0
