"""``medtui data``: list, preview, validate, stats, add, remove and render registered datasets; templates."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from medtui.cli.common import EXIT_FAILED, EXIT_OK, workspace_from
from medtui.core.errors import MedtuiError
from medtui.core.workspace import Workspace


def register(sub, common) -> None:
    data = sub.add_parser("data", parents=[common], help="list, preview, check and register datasets",
                          description="Datasets registered in data/dataset_info.json. Exit codes: 0 ok, "
                                      "1 validation found errors, 2 bad input.")
    ds = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = ds.add_parser("list", parents=[common], help="every registered dataset with file, size, records, format "
                                                     "and the stages that accept it / 列出数据集")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = ds.add_parser("preview", parents=[common], help="show records of a dataset or file, streamed / 预览记录")
    p.add_argument("source", metavar="NAME|FILE", help="registered dataset name, or a .json/.jsonl file or folder")
    p.add_argument("--start", type=int, default=0, help="first record number (0-based, default 0)")
    p.add_argument("--count", type=int, default=5, help="number of records (default 5)")
    p.add_argument("--json", action="store_true", help="print the records as JSON")
    p.set_defaults(func=cmd_preview)

    p = ds.add_parser("validate", parents=[common], help="check a dataset for a stage / 按训练阶段校验数据集")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--stage", required=True, choices=("pt", "sft", "rm", "ppo", "dpo", "kto"))
    p.add_argument("--model", help="model folder whose tokenizer measures token lengths")
    p.add_argument("--cutoff-len", type=int, default=None, help="token limit per record (default 2048)")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=cmd_validate)

    p = ds.add_parser("stats", parents=[common], help="record count and field length distributions / 统计")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--model", help="also count tokens with this model's tokenizer")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_stats)

    p = ds.add_parser("add", parents=[common], help="register a data file in dataset_info.json / 注册数据集",
                      description="Register a file or folder under data/. Without --column the columns are "
                                  "guessed from the file's first records.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--file", required=True, metavar="F", help="data file or folder (relative to data/ or the "
                                                               "current folder)")
    p.add_argument("--formatting", choices=("alpaca", "sharegpt", "openai"), default=None)
    p.add_argument("--ranking", action="store_true", help="a preference dataset (chosen/rejected)")
    p.add_argument("--column", action="append", default=[], metavar="KEY=COL",
                   help="map a column role to a key of the records, e.g. prompt=text (repeatable)")
    p.set_defaults(func=cmd_add)

    p = ds.add_parser("fix-bom", parents=[common], help="remove a UTF-8 byte order mark the trainer cannot read / "
                                                         "去除 BOM",
                      description="Rewrite the data file(s) of a dataset (or a file or folder) without the UTF-8 "
                                  "byte order mark (BOM) that the datasets JSON loader cannot read. The rewrite is "
                                  "atomic; nothing else in the file changes.")
    p.add_argument("source", metavar="NAME|FILE", help="registered dataset name, or a data file or folder")
    p.set_defaults(func=cmd_fix_bom)

    p = ds.add_parser("remove", parents=[common], help="unregister a dataset (the file is kept) / 移除注册")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_remove)

    p = ds.add_parser("render", parents=[common],
                      help="a record as the model sees it: template applied, trained vs masked tokens / 渲染样本",
                      description="Apply the chat template to one record with the model's tokenizer, through "
                                  "llamafactory's own preprocessing: special tokens stay visible, trained tokens "
                                  "(labels) are shown apart from masked ones, each part's token count is given and "
                                  "the cutoff_len cut is marked; pairwise data shows chosen and rejected side by "
                                  "side. Warns when the template does not match the model.")
    p.add_argument("name", metavar="NAME", help="registered dataset")
    p.add_argument("--model", help="model folder whose tokenizer is used (default: the first under models/)")
    p.add_argument("--template", default=None, help="chat template (default: default); see `medtui data templates`")
    p.add_argument("--index", type=int, default=0, metavar="I", help="record number, 0-based (default 0)")
    p.add_argument("--cutoff-len", type=int, default=2048, metavar="N", help="token limit (default 2048)")
    p.add_argument("--stage", choices=("pt", "sft", "rm", "dpo", "kto"), default=None,
                   help="how the record is encoded (default: rm for ranking data, else sft)")
    p.add_argument("--train-on-prompt", action="store_true", help="compute the loss on prompts too")
    p.add_argument("--mask-history", action="store_true", help="train on the last turn only")
    p.add_argument("--no-thinking", action="store_true", help="enable_thinking false (reasoning templates)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("--json", action="store_true", help="print the worker's JSON (token ids and labels)")
    p.set_defaults(func=cmd_render)

    p = ds.add_parser("templates", parents=[common], help="the chat templates of the installed llamafactory / 模板")
    p.set_defaults(func=cmd_templates)


# -- helpers -----------------------------------------------------------------------------
def _registry(ws: Workspace):
    reg = ws.registry()
    if reg.error:
        raise MedtuiError(f"{reg.error} (the file is left untouched)")
    return reg


def _cache(ws: Workspace) -> Path:
    return ws.state_dir / "cache" / "index"


def _local(ws: Workspace, name: str) -> tuple[Path, dict[str, Any]]:
    reg = _registry(ws)
    entry = reg.get(name)
    path = reg.data_file(name)  # raises when the entry's shape is wrong
    if path is None:
        raise MedtuiError(f"dataset {name!r} is hosted on a hub ({_source(entry)}); there is no local file to read")
    return path, entry


def _source(entry: dict[str, Any]) -> str:
    from medtui.core.data.registry import SOURCE_KEYS

    return next((f"{k}: {entry[k]}" for k in SOURCE_KEYS if entry.get(k)), "no source")


def _resolve_source(ws: Workspace, ref: str) -> tuple[str, Path]:
    reg = ws.registry()
    if not reg.error and ref in reg:
        return ref, _local(ws, ref)[0]
    for candidate in (Path(ref).expanduser(), ws.resolve(ref), ws.data_dir / ref):
        if candidate.exists():
            return str(candidate), candidate
    if reg.error:
        raise MedtuiError(f"{ref!r} is not a file, and the registry cannot be read: {reg.error}")
    known = ", ".join(reg.names()) or "none"
    raise MedtuiError(f"{ref!r} is neither a registered dataset nor a file (registered: {known})")


def resolve_model(ws: Workspace, model: str | None) -> str | None:
    """A model folder with a tokenizer, looked up as given, under the workspace, models/ and saves/."""
    if not model:
        return None
    for candidate in (Path(model).expanduser(), ws.resolve(model), ws.models_dir / model, ws.saves_dir / model):
        if candidate.is_dir():
            if (candidate / "tokenizer.json").is_file() or (candidate / "tokenizer_config.json").is_file():
                return str(candidate)
            raise MedtuiError(f"{candidate} holds no tokenizer (tokenizer.json or tokenizer_config.json)")
    raise MedtuiError(f"model folder not found: {model}")


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# -- commands ----------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    from medtui.core.data.files import DataFileError
    from medtui.core.data.listing import human_size, list_datasets
    from medtui.core.data.reader import DatasetReader

    ws = workspace_from(args)
    reg = _registry(ws)
    rows = list_datasets(reg)
    problems: dict[str, str] = {}
    for row in rows:
        if row.exists:
            try:
                row.records = DatasetReader(row.path, _cache(ws)).count()
            except DataFileError as exc:
                problems[row.name] = str(exc)
    if args.json:
        print(json.dumps([{**r.as_dict(), "problem": r.problem or problems.get(r.name)} for r in rows],
                         ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print(f"no datasets registered in {reg.path}")
        return EXIT_OK
    table = [("NAME", "FILE", "EXISTS", "SIZE", "RECORDS", "FORMAT", "RANKING", "STAGES")]
    for r in rows:
        if r.problem:
            problems[r.name] = f"bad entry: {r.problem}"
        exists = "BAD" if r.problem else "hub" if r.hub else ("yes" if r.exists else "MISSING")
        records = "error" if r.name in problems else ("-" if r.records is None else str(r.records))
        name = _safe(r.name)
        table.append((name, _safe(r.source), exists, human_size(r.size), records, r.formatting,
                      "yes" if r.ranking else "no", ",".join(r.stages) or "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for name, message in problems.items():
        print(f"{_safe(name)}: {message}", file=sys.stderr)
    return EXIT_OK


def _safe(text: str) -> str:
    """A name as one printable line (control characters shown escaped)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


def cmd_preview(args: argparse.Namespace) -> int:
    from medtui.core.data.reader import DatasetReader

    if args.start < 0 or args.count < 1:
        raise MedtuiError("--start must be 0 or more and --count 1 or more")
    ws = workspace_from(args)
    label, path = _resolve_source(ws, args.source)
    reader = DatasetReader(path, _cache(ws))
    page = reader.page(args.start, args.count)
    if args.json:
        print(json.dumps({"source": label, "path": str(path), "start": args.start, "total": reader.known_count(),
                          "records": [{"index": i, "record": r} for i, r in page]}, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not page:
        total = reader.count()
        print(f"{label}: no record {args.start} (the dataset has {total})")
        return EXIT_OK
    for i, record in page:
        print(f"── record {i} ──")
        width = max((len(k) for k in record), default=0)
        for key, value in record.items():
            text = _value(value).replace("\n", "\n" + " " * (width + 2))
            print(f"{key.ljust(width)}  {text}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from medtui.core.data.validation import validate_dataset
    from medtui.core.stages.spec import ARG_BY_NAME

    ws = workspace_from(args)
    path, entry = _local(ws, args.name)
    model = resolve_model(ws, args.model)
    if args.cutoff_len is not None and args.cutoff_len < 1:
        raise MedtuiError("--cutoff-len must be 1 or more")
    cutoff_len = args.cutoff_len or ARG_BY_NAME["cutoff_len"].default
    report = validate_dataset(path, entry, args.stage, name=args.name, model=model, cutoff_len=cutoff_len)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines(getattr(args, "lang", "en"))))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_stats(args: argparse.Namespace) -> int:
    from medtui.core.data.stats import dataset_stats, format_stats

    ws = workspace_from(args)
    path, entry = _local(ws, args.name)
    stats = dataset_stats(path, entry, model=resolve_model(ws, args.model))
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
        return EXIT_OK
    print("\n".join(format_stats(stats, getattr(args, "lang", "en"))))
    if not stats["records"]:
        print(f"{args.name}: the dataset has no records, so there are no lengths to show")
        return EXIT_OK
    for unit in ("chars", "tokens"):
        if stats.get(unit):
            print(f"\nrecord length ({unit}):")
            print("\n".join(text_histogram(stats[unit]["fields"]["record"])))
    return EXIT_OK


def text_histogram(d: dict[str, Any], width: int = 40) -> list[str]:
    peak = max(d["counts"]) or 1
    edges = d["edges"]
    labels = [str(edges[i]) if edges[i + 1] - 1 == edges[i] else f"{edges[i]}-{edges[i + 1] - 1}"
              for i in range(len(d["counts"]))]
    pad = max(map(len, labels))
    return [f"{label:>{pad}} {'█' * max(1 if c else 0, round(c / peak * width))} {c}"
            for label, c in zip(labels, d["counts"])]


def _parse_columns(items: list[str]) -> dict[str, str]:
    from medtui.core.data.columns import COLUMN_KEYS

    out: dict[str, str] = {}
    for item in items:
        key, sep, col = item.partition("=")
        key, col = key.strip(), col.strip()
        if not sep or not key or not col:
            raise MedtuiError(f"--column expects KEY=COL, got {item!r}")
        if key not in COLUMN_KEYS:
            raise MedtuiError(f"--column {item}: {key!r} is not a column role; use one of {', '.join(COLUMN_KEYS)}")
        out[key] = col
    return out


def cmd_add(args: argparse.Namespace) -> int:
    from medtui.core.data.fit import stages_for
    from medtui.core.data.registry import name_problem

    ws = workspace_from(args)
    if name_problem(args.name):
        raise MedtuiError(name_problem(args.name))
    reg = _registry(ws)
    columns = _parse_columns(args.column)
    taken = f"dataset {args.name!r} is already registered; remove it first"
    if args.name in reg:
        raise MedtuiError(taken)
    entry = _new_entry(ws, reg, args, columns)  # reads the data file, before taking the lock
    with reg.locked():  # the check and the edit see the same file, whoever else writes it
        if reg.error:
            raise MedtuiError(f"{reg.error} (the file is left untouched)")
        if args.name in reg:
            raise MedtuiError(taken)
        reg.add(args.name, entry)
    print(f"registered {args.name}: {json.dumps(entry, ensure_ascii=False)}")
    print(f"accepted by stages: {', '.join(stages_for(entry)) or 'none'}")
    return EXIT_OK


def _new_entry(ws: Workspace, reg, args: argparse.Namespace, columns: dict[str, str]) -> dict[str, Any]:
    from medtui.core.data.columns import keys_of
    from medtui.core.data.detect import suggest_entry
    from medtui.core.data.reader import head

    file = next((c for c in (reg.path.parent / args.file, Path(args.file).expanduser(), ws.resolve(args.file))
                 if c.exists()), None)
    if file is None:
        raise MedtuiError(f"data file not found: {args.file} (looked in {reg.path.parent} and the current folder)")
    try:
        file_name = str(file.resolve().relative_to(reg.path.parent.resolve()))
    except ValueError:
        file_name = str(file.resolve())
    records = head(file, 20)
    entry = suggest_entry(file_name, records)
    if args.formatting:
        entry.pop("formatting", None)
        if args.formatting != "alpaca":
            entry = {"file_name": file_name, "formatting": args.formatting,
                     **{k: v for k, v in entry.items() if k != "file_name"}}
        else:
            entry.pop("tags", None)
    if args.ranking:
        entry["ranking"] = True
    if columns:
        found = keys_of(records)
        missing = [f"{k}={c}" for k, c in columns.items() if c not in found]
        if missing:
            raise MedtuiError(f"{', '.join(missing)}: not a key of the file's first records "
                              f"(found: {', '.join(found) or 'none'})")
        entry["columns"] = columns
    _refuse_unreadable(file, entry, args.file)
    return entry


def _refuse_unreadable(file: Path, entry: dict[str, Any], ref: str) -> None:
    """Refuse (exit 2) a file or entry the trainer cannot read: the sampled checks pre-flight runs."""
    from medtui.core.data.validation import validate_sample

    report, _ = validate_sample(file, entry, None, name=ref)
    errors = [f for f in report.findings if f.level == "error"]
    for finding in report.findings:
        if finding.level == "warn":
            print(f"warning: {finding.text()}", file=sys.stderr)
    if errors:
        raise MedtuiError("not registered; the trainer could not read it:\n" +
                          "\n".join(f"  {f.text()}" for f in errors))


def cmd_fix_bom(args: argparse.Namespace) -> int:
    from medtui.core.data.sample import strip_bom

    ws = workspace_from(args)
    label, path = _resolve_source(ws, args.source)
    fixed = strip_bom(path)
    if not fixed:
        print(f"{label}: no byte order mark; nothing to do")
    for f in fixed:
        print(f"removed the UTF-8 byte order mark from {f}")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    ws = workspace_from(args)
    reg = _registry(ws)
    if args.name not in reg:
        raise MedtuiError(f"dataset {args.name!r} is not registered in {reg.path}")
    with reg.locked():
        if reg.error:
            raise MedtuiError(f"{reg.error} (the file is left untouched)")
        entry = reg.raw(args.name)
        reg.remove(args.name)
    kept = f" ({entry['file_name']} is kept)" if isinstance(entry, dict) and isinstance(entry.get("file_name"), str) else ""
    print(f"removed {args.name} from {reg.path}{kept}")
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from medtui.core.data.render import format_text, render_record, render_request

    ws = workspace_from(args)
    registry = _registry(ws)
    if args.name not in registry:
        known = ", ".join(registry.names()) or "none"
        raise MedtuiError(f"dataset {args.name!r} is not registered in {registry.path} (registered: {known})")
    path, _entry = _local(ws, args.name)
    if not path.exists():
        raise MedtuiError(f"{args.name}: data file not found: {path}")
    model = resolve_model(ws, args.model) if args.model else _first_model(ws)
    template = args.template or "default"
    from medtui.core.stages.validate import _template_problems

    problems = _template_problems(template)
    if problems:
        raise MedtuiError(problems[0].message)
    stage = args.stage or ("rm" if registry.get(args.name).get("ranking") else "sft")
    request = render_request(dataset=args.name, dataset_dir=registry.path.parent, model=model, template=template,
                             index=args.index, cutoff_len=args.cutoff_len, stage=stage,
                             train_on_prompt=args.train_on_prompt, mask_history=args.mask_history,
                             enable_thinking=not args.no_thinking)
    rendered = render_record(request)
    if args.json:
        print(json.dumps(rendered.data, ensure_ascii=False, indent=1))
        return EXIT_OK
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    width = shutil.get_terminal_size((100, 24)).columns
    print(format_text(rendered, color=color, width=width))
    return EXIT_OK


def _first_model(ws: Workspace) -> str:
    for folder in ws.model_dirs():
        if (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file():
            return str(folder)
    raise MedtuiError("no model with a tokenizer under models/; pass --model DIR")


def cmd_templates(args: argparse.Namespace) -> int:
    from medtui.core.stages.spec import template_names

    names = template_names()
    if not names:
        raise MedtuiError("llamafactory is not installed; its templates cannot be listed")
    print("\n".join(names))
    return EXIT_OK
