"""Precision and recall of the credential rules on the labelled corpus (issue 3, item 10).

    python bench/detect_eval.py [CORPUS_DIR] [--show-errors]
    python bench/detect_eval.py --real PATH... [--show-errors]

Without CORPUS_DIR the corpus is generated (deterministically) into a temporary directory by
tests/detect/corpus/generate.py. Every file is scanned with ``Engine.load(pii=False)``; a
finding counts as a true positive when a label says a secret of the finding's family sits on
that line, otherwise as a false positive (lines without a label are negatives too). Prints
precision and recall per rule family, for the ``validated`` tier and overall. Locations and
rule ids are printed, never secret values.

``--real`` scans ordinary files instead (source trees, docs), which hold no labels: every
finding there is a candidate false positive, counted per rule and per MB.
"""

from __future__ import annotations

import bisect
import importlib.util
import json
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "tests" / "detect" / "corpus" / "generate.py"


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    cross: int = 0
    """Findings on a line that holds a labelled secret of another family (seen, but named otherwise)."""
    found: int = 0
    labelled: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.labelled if self.labelled else 1.0


@dataclass
class Report:
    families: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    tiers: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    overall: Score = field(default_factory=Score)
    """Line level: a finding of any family on a line holding any labelled secret is a true positive."""
    false_positives: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    bytes_scanned: int = 0
    seconds: float = 0.0


def generate_corpus(outdir: Path) -> None:
    spec = importlib.util.spec_from_file_location("mcpwarden_corpus_generate", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    module.generate(outdir)


def _line_of(starts: list[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset)


def evaluate(corpus: Path, engine: object | None = None) -> Report:
    """Scan every corpus file and score the findings against ``labels.json``."""
    from mcpwarden.detect import Engine

    engine = engine or Engine.load(pii=False)
    labels = json.loads((corpus / "labels.json").read_text())
    positives: dict[tuple[str, int, str], str] = {}
    for label in labels:
        if label["expected"]:
            positives[(label["file"], label["line"], label["family"])] = label["rule"]
    secret_lines = {(f, line) for f, line, _ in positives}
    report = Report()
    hits: set[tuple[str, int, str]] = set()
    lines_hit: set[tuple[str, int]] = set()
    counted: set[tuple[str, int, str, str]] = set()
    for path in sorted(corpus.iterdir()):
        if path.name in ("labels.json", "generate.py"):
            continue
        text = path.read_text(encoding="utf-8")
        starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        began = time.perf_counter()
        findings = engine.scan_text(text)  # type: ignore[attr-defined]
        report.seconds += time.perf_counter() - began
        report.bytes_scanned += len(text.encode())
        for finding in findings:
            line = _line_of(starts, finding.start)
            key = (path.name, line, finding.family)
            if (*key, finding.tier) in counted:
                continue
            counted.add((*key, finding.tier))
            on_secret_line = (path.name, line) in secret_lines
            if on_secret_line:
                lines_hit.add((path.name, line))
            for score in (report.families[finding.family], report.tiers[finding.tier]):
                if key in positives:
                    score.tp += 1
                elif on_secret_line:
                    score.cross += 1
                else:
                    score.fp += 1
            if key in positives:
                hits.add(key)
            if on_secret_line:
                report.overall.tp += 1
            else:
                report.overall.fp += 1
                report.false_positives.append(f"{path.name}:{line} {finding.rule_id} ({finding.tier})")
    for key, rule in positives.items():
        family = report.families[key[2]]
        family.labelled += 1
        if key in hits:
            family.found += 1
        else:
            report.misses.append(
                f"{key[0]}:{key[1]} {key[2]}/{rule}" + ("" if (key[0], key[1]) in lines_hit else " (unseen)")
            )
    report.overall.labelled = len(secret_lines)
    report.overall.found = len(lines_hit)
    return report


def render(report: Report, show_errors: bool = False) -> str:
    head = f"{'':<16} {'labels':>6} {'found':>6} {'recall':>7} {'tp':>5} {'cross':>5} {'fp':>5} {'precision':>9}"
    lines = ["by family (recall: the labelled family was reported on the line)", head]

    def row(name: str, s: Score, recall: bool = True) -> str:
        counts = f"{s.labelled:>6} {s.found:>6} {s.recall:>7.3f}" if recall else f"{'':>6} {'':>6} {'':>7}"
        return f"{name:<16} {counts} {s.tp:>5} {s.cross:>5} {s.fp:>5} {s.precision:>9.3f}"

    lines += [row(name, report.families[name]) for name in sorted(report.families)]
    lines += ["", "by tier (precision only; cross = right line, other family)", head]
    lines += [row(f"{name} tier", report.tiers[name], recall=False) for name in sorted(report.tiers)]
    lines += [
        "",
        "overall, by line (recall: any finding on a line holding a secret)",
        head,
        row("overall", report.overall),
    ]
    mb = report.bytes_scanned / 1e6
    rate = mb / report.seconds if report.seconds else 0.0
    lines.append(f"scanned {mb:.2f} MB in {report.seconds:.3f} s ({rate:.1f} MB/s; corpus is dense with secrets)")
    if show_errors:
        lines += ["", "false positives:"] + [f"  {x}" for x in report.false_positives]
        lines += ["", "misses:"] + [f"  {x}" for x in report.misses]
    return "\n".join(lines)


REAL_LIMIT = 200_000_000
"""Stop reading after this many bytes of ordinary files."""


def scan_real(paths: list[str], show: bool) -> str:
    """Findings per rule on unlabelled files: noise on text that should hold few secrets."""
    from mcpwarden.detect import Engine

    engine = Engine.load(pii=False)
    counts: dict[str, int] = defaultdict(int)
    where: list[str] = []
    total = 0
    seconds = 0.0
    files = sorted({p for root in paths for p in ([Path(root)] if Path(root).is_file() else Path(root).rglob("*"))})
    for path in files:
        if total >= REAL_LIMIT or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        total += len(text.encode())
        began = time.perf_counter()
        found = engine.scan_text(text)
        seconds += time.perf_counter() - began
        for finding in found:
            counts[finding.rule_id] += 1
            where.append(f"{path}:{text.count(chr(10), 0, finding.start) + 1} {finding.rule_id} ({finding.tier})")
    mb = total / 1e6
    lines = [f"scanned {mb:.1f} MB of ordinary files in {seconds:.2f} s ({mb / seconds if seconds else 0:.1f} MB/s)"]
    lines.append(f"{sum(counts.values())} findings ({sum(counts.values()) / mb if mb else 0:.2f} per MB)")
    lines += [f"  {n:>5}  {rule}" for rule, n in sorted(counts.items(), key=lambda x: -x[1])]
    if show:
        lines += ["", "where:"] + [f"  {x}" for x in where]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    show = "--show-errors" in argv
    args = [a for a in argv if not a.startswith("--")]
    if "--real" in argv:
        print(scan_real(args, show))
        return 0
    if args:
        print(render(evaluate(Path(args[0])), show))
        return 0
    with tempfile.TemporaryDirectory(prefix="mcpwarden-corpus-") as tmp:
        generate_corpus(Path(tmp))
        print(render(evaluate(Path(tmp)), show))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
