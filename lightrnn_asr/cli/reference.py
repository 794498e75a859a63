"""The command-line reference (docs/cli.md), generated from the click commands so that it cannot drift:
``python -m lightrnn_asr.cli.reference > docs/cli.md`` (``make docs``); a test checks it is up to date."""

from __future__ import annotations

import inspect

import click

from lightrnn_asr.cli import main


def _option_line(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        return f"- `{param.human_readable_name}` (argument{'' if param.required else ', optional'})"
    names = " / ".join(f"`{n}`" for n in (*param.opts, *param.secondary_opts))
    default = param.default if param.show_default and not param.is_flag else None
    text = (param.help or "").replace("\n", " ")
    extras = [f"default: `{default}`"] if default not in (None, "", ()) else []
    if param.hidden:
        extras.append("not listed by `--help`: a study option, or an old spelling")
    return f"- {names}: {text}" + (f" ({'; '.join(extras)})" if extras else "")


def reference() -> str:
    """Markdown: every command, its help text and every option (the hidden ones marked)."""
    out = ["# Command-line reference", "",
           "<!-- generated from the click commands by `python -m lightrnn_asr.cli.reference` (make docs); "
           "do not edit -->", ""]
    for name in sorted(main.commands):
        cmd = main.commands[name]
        out += [f"## `lightrnn-asr {name}`", "", inspect.cleandoc(cmd.help or ""), ""]
        out += [_option_line(p) for p in cmd.params if p.name != "help"] + [""]
    return "\n".join(out)


if __name__ == "__main__":
    click.echo(reference(), nl=False)
