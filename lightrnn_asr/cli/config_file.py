"""Options from a preset and a YAML file, as a command's defaults (click's ``default_map``), in the
manner of ESPnet's ``--config conf/train_lm.yaml``: the command line overrides the file, the file
the preset, the preset the built-in defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from lightrnn_asr.utils.io import atomic_text

__all__ = ["apply_defaults", "read_options", "write_options"]

_META = "lightrnn_asr.defaults"
#: Options about one invocation, not about the run: not written by :func:`write_options`.
RUN_CONTROL = ("config", "help", "resume", "overwrite")


def _keys(command: click.Command) -> dict[str, click.Parameter]:
    """Every spelling a file may use for an option: its long names without dashes, with ``-`` or ``_``
    (``input-shortlist``, ``input_shortlist``; ``vocab`` for ``--vocab``), and its parameter name."""
    keys: dict[str, click.Parameter] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in ("config", "help"):
            continue
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("--"):
                keys[opt[2:]] = keys[opt[2:].replace("-", "_")] = param
        keys[param.name] = param
    return keys


def read_options(path: str | Path, command: click.Command) -> dict[str, Any]:
    """The options of a YAML mapping file as ``{parameter name: value}`` (values as YAML reads them;
    click converts and checks them like command-line values). A flag's ``--no-x`` form is its
    option with ``false``.

    Raises:
        click.BadParameter: naming the file and line for a file that is not a mapping, an option the
            command does not have, or an option given twice.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        raise click.BadParameter(f"{path}: not YAML: {e}", param_hint="--config") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise click.BadParameter(f"{path}:{root.start_mark.line + 1}: expected 'option: value' lines",
                                 param_hint="--config")
    keys, out = _keys(command), {}
    for key_node, value_node in root.value:
        where, key = f"{path}:{key_node.start_mark.line + 1}", str(key_node.value)
        param = keys.get(key.lstrip("-"))
        if param is None:
            raise click.BadParameter(f"{where}: {command.name} has no option {key!r}", param_hint="--config")
        if param.name in out:
            raise click.BadParameter(f"{where}: {key!r} is given twice", param_hint="--config")
        value = yaml.safe_load(yaml.serialize(value_node))
        if key.lstrip("-").replace("_", "-") in (o[2:] for o in param.secondary_opts):
            value = not value  # keep-optimizer: true is reset-optimizer: false
        out[param.name] = value
    return out


def apply_defaults(ctx: click.Context, presets: dict[str, dict[str, Any]], preset: str | None = None,
                   config: str | None = None) -> None:
    """Set ``ctx.default_map`` from a preset (``{parameter name: value}``) and a config file, the file's
    values over the preset's. Called from the eager ``--preset`` and ``--config`` callbacks in either
    order: each records its part and the map is built from both."""
    state = ctx.meta.setdefault(_META, {"preset": {}, "config": {}})
    if preset is not None:
        state["preset"] = dict(presets[preset])
    if config is not None:
        state["config"] = read_options(config, ctx.command)
    ctx.default_map = {**(ctx.default_map or {}), **state["preset"], **state["config"]}


def write_options(path: str | Path, params: dict[str, Any], command: click.Command) -> None:
    """``params`` (a run's resolved options) as a YAML file that ``--config`` reads back: long option
    names, ``None`` values and :data:`RUN_CONTROL` left out. Written atomically."""
    names = {p.name: next(o[2:] for o in p.opts if o.startswith("--")) for p in command.params
             if isinstance(p, click.Option)}
    body = {names[k]: list(v) if isinstance(v, tuple) else v for k, v in params.items()
            if v is not None and k in names and k not in RUN_CONTROL}
    with atomic_text(path) as f:
        yaml.safe_dump(body, f, sort_keys=False, default_flow_style=False)
