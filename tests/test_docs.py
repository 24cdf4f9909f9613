"""The documentation checked against what it documents: every relative link and anchor resolves, every
command in a fenced block (and every inline `snakemake ...` or `python -m ...`) parses with Snakemake's
own argument parser and names existing files, rules, output paths and config keys, every config key a
page names (inline, in a YAML block, or in `--config`) is in the schema, and every key of the schema is
in config/README.md. The schema is walked here, not through the workflow's own key checks."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml

from conftest import REPO

PAGES = sorted([REPO / "README.md", REPO / "CHANGELOG.md", REPO / "config" / "README.md",
                *(REPO / "docs").glob("*.md")])  # fmt: skip
SCHEMA = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
# Folders of the repository: a path starting with one of these names a shipped file, which must exist
# (others, such as mine.yaml or site.yaml, are the reader's own files)
REPO_FOLDERS = ("config", "resources", "profiles", "workflow", "docs", "tests", "envs")
# The pages a newcomer needs, each reachable from the README (issue: a newcomer's way in)
TASK_PAGES = ["own-data", "outputs", "clinician-outputs", "paper", "mama-synth", "gpu", "cluster", "benchmarks",
              "extending", "troubleshooting", "module"]  # fmt: skip


# --- reading markdown ------------------------------------------------------------------------------


def split_fences(text: str):
    """(prose with fenced blocks blanked out, [(language, block)])."""
    prose, blocks, lang, block = [], [], None, []
    for line in text.split("\n"):
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence and lang is None:
            lang, block = fence.group(1) or "text", []
            prose.append("")
        elif fence and line.strip() == "```":
            blocks.append((lang, "\n".join(block)))
            lang = None
            prose.append("")
        elif lang is not None:
            block.append(line)
            prose.append("")
        else:
            prose.append(line)
    assert lang is None, "an unclosed fenced block"
    return "\n".join(prose), blocks


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: link texts kept, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose, _ = split_fences(page.read_text())
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", prose, re.M):
        a = github_anchor(m.group(1))
        out.add(a if a not in seen else f"{a}-{seen[a]}")
        seen[a] = seen.get(a, 0) + 1
    return out


def links(page: Path):
    prose, _ = split_fences(page.read_text())
    prose = re.sub(r"`[^`\n]*`", "", prose)  # code spans hold no links
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose)


def code_spans(page: Path) -> list[str]:
    prose, _ = split_fences(page.read_text())
    return re.findall(r"`([^`\n]+)`", prose)


# --- the schema, walked independently --------------------------------------------------------------


def _deref(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].split("/")[-1]]
    return node


PLACEHOLDER = re.compile(r"^(<\w+>|\{\w+\}|[A-Z]+|\*)$")


def schema_has(parts: list[str]) -> bool:
    """Whether a key path exists in the schema; a placeholder segment (<run>, {rule}, NAME) stands for
    any key of a mapping. Under `resources` a key must be a rule of the workflow (or `default`)."""
    if parts[0] == "resources" and len(parts) > 1 and not PLACEHOLDER.match(parts[1]):
        if parts[1] not in RULES | {"default"}:
            return False
    node = SCHEMA
    for part in parts:
        node = _deref(node)
        props = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        if part in props:
            node = props[part]
        elif isinstance(extra, dict):
            node = extra
        elif extra is True and not props and "object" in str(node.get("type", "object")):
            return True  # a free mapping (a model's options)
        else:
            return False
    return True


def schema_paths(node=SCHEMA, prefix=()):
    node = _deref(node)
    for key, sub in node.get("properties", {}).items():
        yield (*prefix, key)
        yield from schema_paths(sub, (*prefix, key))
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_paths(node["additionalProperties"], (*prefix, "*"))


def yaml_key_paths(data, prefix=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield (*prefix, str(k))
            yield from yaml_key_paths(v, (*prefix, str(k)))


TOP = set(SCHEMA["properties"])
# Keys renamed in earlier versions: the changelog and config/README.md name them as renamed
from dcesynth.config_keys import RENAMED_KEYS  # noqa: E402
DOTTED_KEY = re.compile(r"^([a-z][a-z0-9_]*)((?:\.[A-Za-z0-9_<>{}\[\]-]+)+)(?::.*)?$")


def config_keys_named(span: str) -> list[list[str]]:
    """The config key paths a code span names: `gan.vgg.mode`, `gan.vgg.mode: random`,
    `resources.<rule>`, or flow YAML such as `gan: {niter: 0, init_generator: G.pth}`."""
    m = DOTTED_KEY.match(span.strip())
    if m and m.group(1) in TOP and " " not in span.split(":")[0]:
        if f"{m.group(1)}{m.group(2)}" in RENAMED_KEYS:  # an old key, named as renamed
            return []
        return [[m.group(1), *re.sub(r"\[\d+\]", "", m.group(2)).strip(".").split(".")]]
    if re.match(r"^[a-z_]+: ", span):
        try:
            data = yaml.safe_load(span)
        except yaml.YAMLError:
            return []
        if isinstance(data, dict) and set(data) <= TOP:
            return [list(p) for p in yaml_key_paths(data)]
    return []


# --- the workflow's rules and output paths ---------------------------------------------------------


def rule_names() -> set[str]:
    """Every rule: top-level or inside a condition, and those made with `use rule X as Y`."""
    files = [REPO / "workflow" / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]
    text = "\n".join(f.read_text() for f in files)
    return set(re.findall(r"^\s*(?:rule|checkpoint)\s+(\w+)\s*:", text, re.M)) | set(
        re.findall(r"^\s*use\s+rule\s+\w+\s+as\s+(\w+)", text, re.M))


def output_patterns() -> list[re.Pattern]:
    from dcesynth.plan.paths import PATHS

    templates = set(PATHS.values())
    for f in (REPO / "workflow" / "rules").glob("*.smk"):
        templates |= set(re.findall(r"\"((?:results|logs|benchmarks)/[^\"]+)\"", f.read_text()))
    pats = []
    for t in templates:
        parts = re.split(r"\{[^{}]+\}", t.replace("{{", "{").replace("}}", "}"))
        pats.append(re.compile("[^/]+".join(map(re.escape, parts)) + r"(/.*)?$"))
    return pats


RULES = rule_names()


def _snakemake_parser():
    from snakemake.cli import get_argument_parser

    return get_argument_parser()


def commands(block: str) -> list[list[str]]:
    """The commands of a shell block, each as its words: continuation lines joined, split at && ; |
    outside quotes (heredoc bodies dropped: they are a file's content)."""
    text, heredoc = [], None
    for line in block.split("\n"):
        if heredoc:
            if line.strip() == heredoc:
                heredoc = None
            continue
        m = re.search(r"<<-?\s*'?\"?(\w+)'?\"?", line)
        if m:
            heredoc = m.group(1)
            line = line[: m.start()]
        text.append(line)
    out = []
    for line in re.sub(r"\\\n", " ", "\n".join(text)).split("\n"):
        if not line.strip() or line.strip().startswith("#"):
            continue
        lex = shlex.shlex(line, posix=True, punctuation_chars="&;|")
        lex.whitespace_split, lex.commenters = True, "#"
        words: list[str] = []
        for word in lex:
            if word in ("&&", ";", "|", "||", "&"):
                out.append(words) if words else None
                words = []
            else:
                words.append(word)
        if words:
            out.append(words)
    return out


def check_snakemake(words: list[str], files_made: set[str], where: str) -> list[str]:
    problems = []
    try:
        args = _snakemake_parser().parse_args(words)
    except SystemExit:
        return [f"{where}: Snakemake does not parse `snakemake {' '.join(words)}`"]

    def target_ok(t: str) -> bool:
        return t in RULES or any(p.match(t) for p in PATTERNS) or (REPO / t).exists()

    for t in [*(args.targets or []), *(args.forcerun or []), *(args.until or []), *(args.omit_from or [])]:
        if not target_ok(t):
            problems.append(f"{where}: `{t}` is neither a rule nor an output of this workflow")
    for f in args.configfile or []:
        f = str(f)
        if f.split("/")[0] in REPO_FOLDERS and not (REPO / f).exists():
            problems.append(f"{where}: --configfile {f} does not exist")
        elif "/" not in f and f not in files_made and not f.endswith(".yaml"):
            problems.append(f"{where}: --configfile {f} is not a YAML file")
    for item in args.config or []:
        key = item.split("=", 1)[0]
        if not schema_has(key.split(".")):
            problems.append(f"{where}: --config {key} is not a config key")
    for item in args.set_resources or []:
        if item.split(":", 1)[0] not in RULES:
            problems.append(f"{where}: --set-resources names no rule: {item}")
    profile = args.workflow_profile
    if profile and profile != "none" and not ((REPO / "profiles" / profile).is_dir() or (REPO / profile).is_dir()):
        problems.append(f"{where}: --workflow-profile {profile} is not a shipped profile")
    return problems


def check_command(words: list[str], files_made: set[str], where: str) -> list[str]:
    while words and re.match(r"^[A-Za-z_]+=", words[0]):  # VAR=value prefixes
        words = words[1:]
    if not words:
        return []
    if words[0] == "snakemake":
        # the pages write N for a number of cores
        words = [("2" if w == "N" and words[i - 1] in ("--cores", "-c", "--jobs", "-j") else w)
                 for i, w in enumerate(words)]  # fmt: skip
        return check_snakemake(words[1:], files_made, where)
    if words[0] in ("python", "python3") and words[1:2] == ["-m"]:
        module = words[2]
        if importlib.util.find_spec(module) is None:
            return [f"{where}: python -m {module}: no such module"]
        return []
    if words[0] == "cat" and ">" in words:  # cat > site.yaml <<'YAML'
        files_made.add(words[words.index(">") + 1])
    return []


PATTERNS = output_patterns()


# Folders under results/ that no rule names as its output: the jobs' feature cache, and the folder
# earlier versions wrote (the changelog names it)
from dcesynth.config_keys import RENAMED_FOLDERS  # noqa: E402
from dcesynth.evaluation.feature_cache import ROOT as FEATURE_CACHE  # noqa: E402

OTHER_RESULTS = (FEATURE_CACHE, *RENAMED_FOLDERS)


# --- what is wrong with a page ------------------------------------------------------------------


def link_problems(page: Path) -> list[str]:
    problems = []
    for target in links(page):
        if re.match(r"^[a-z]+://|^mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading #{anchor} in {dest.name}")
    return problems


def command_problems(page: Path) -> list[str]:
    """Shell blocks, untagged blocks that start with a command, and inline `snakemake ...` /
    `python -m ...` spans."""
    problems, where = [], page.name
    _, blocks = split_fences(page.read_text())
    for lang, block in blocks:
        if lang in ("bash", "sh", "shell") or (lang == "text" and re.match(r"^\s*(snakemake|python -m) ", block)):
            made: set[str] = set()
            for words in commands(block):
                problems += check_command(words, made, where)
    for span in code_spans(page):
        if re.match(r"^(snakemake|python -m) ", span):
            for words in commands(span):
                problems += check_command(words, set(), f"{where} (inline)")
    return problems


def key_problems(page: Path) -> list[str]:
    """Every config key a page names: inline (`gan.vgg.mode`, `gan: {niter: 0}`) and in YAML blocks."""
    problems = []
    for span in code_spans(page):
        for path in config_keys_named(span):
            if not schema_has(path):
                problems.append(f"`{span}` names {'.'.join(path)}, which is not a config key")
    _, blocks = split_fences(page.read_text())
    for lang, block in blocks:
        if lang in ("yaml", "yml"):
            data = yaml.safe_load(block)
            if not isinstance(data, dict):
                problems.append("a YAML block that is not a mapping")
                continue
            for path in yaml_key_paths(data):
                if path[0] in TOP and not schema_has(list(path)):
                    problems.append(f"its YAML block names {'.'.join(path)}, which is not a config key")
    return problems


def path_problems(page: Path) -> list[str]:
    """Paths in code spans: a shipped file or folder exists; an output path is one the workflow writes;
    the rule column of a table of outputs names rules."""
    problems = []
    for span in code_spans(page):
        for token in re.findall(r"[\w./{}<>*…-]+", span):
            token = token.rstrip(".,")
            top = token.split("/")[0]
            if "/" not in token or re.search(r"[{}<>*…]|NNN|\.\.\.", token):
                continue  # a pattern, not a path
            if top in REPO_FOLDERS and not (REPO / token.rstrip("/")).exists():
                problems.append(f"`{token}`: no such file or folder in the repository")
            elif top == "results" and not any(pat.match(token.rstrip("/")) or pat.pattern.startswith(
                    re.escape(token.rstrip("/"))) for pat in PATTERNS) and not token.rstrip("/").startswith(
                    OTHER_RESULTS):  # fmt: skip
                problems.append(f"`{token}`: not an output of this workflow")
    prose, _ = split_fences(page.read_text())
    if page.name == "outputs.md":  # its table's first column: the rules, as `a`, `b` (then any words)
        for cell in re.findall(r"^\| ([^|]*) \| [^|]*\|$", prose, re.M):
            lead = re.match(r"^(`\w+`(?:, `\w+`)*)", cell)
            for name in re.findall(r"`(\w+)`", lead.group(1) if lead else ""):
                if name not in RULES:
                    problems.append(f"`{name}` in the table's rule column is not a rule")
    return problems


def problems_of(page: Path) -> list[str]:
    return link_problems(page) + command_problems(page) + key_problems(page) + path_problems(page)


# --- the tests -------------------------------------------------------------------------------------


def test_readme_first_screen():
    """What it does, the two commands first and unchanged, a result image; at most ~150 lines."""
    lines = (REPO / "README.md").read_text().split("\n")
    assert lines[2:6] == ["```bash", "pip install -e . && snakemake --cores all", 'pip install -e ".[test]" && pytest',
                          "```"]  # fmt: skip
    first_screen = "\n".join(lines[:30])
    image = re.search(r"!\[[^\]]+\]\(([^)]+\.png)\)", first_screen)
    assert image and (REPO / image.group(1)).stat().st_size < 200_000
    assert len(lines) <= 150


def test_every_task_has_a_page_reachable_from_the_readme():
    linked = {Path(t.split("#")[0]).stem for t in links(REPO / "README.md") if t.startswith("docs/")}
    assert set(TASK_PAGES) <= linked, set(TASK_PAGES) - linked
    assert "CHANGELOG.md" in links(REPO / "README.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_page_links_commands_keys_and_paths_are_true(page):
    problems = problems_of(page)
    assert not problems, "\n".join(problems)


def test_the_checks_find_what_is_wrong(tmp_path):
    """The checks above on a page made wrong on purpose: each mistake is found, and its right twin passes."""
    (tmp_path / "other.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    wrong = {
        "[x](missing.md)": "missing.md: no such file",
        "[x](other.md#no-heading)": "no heading #no-heading",
        "`gan.niterr`": "gan.niterr, which is not a config key",
        "`resources.no_such_rule`": "resources.no_such_rule, which is not a config key",
        "`gan: {niter: 1, lrr: 2}`": "gan.lrr, which is not a config key",
        "```yaml\nmetrics: {n_fid_pair: 8}\n```": "metrics.n_fid_pair, which is not a config key",
        "```bash\nsnakemake --cores 2 --forcerun no_such_rule\n```": "`no_such_rule` is neither a rule nor an output",
        "```\nsnakemake --cores 2 results/tabels/x.tsv\n```": "`results/tabels/x.tsv` is neither a rule nor an output",
        "`snakemake --config devize=cuda`": "--config devize is not a config key",
        "`snakemake --configfile config/nothere.yaml`": "--configfile config/nothere.yaml does not exist",
        "`snakemake --set-resources nope:mem_mb=1`": "--set-resources names no rule",
        "`snakemake --no-such-option`": "Snakemake does not parse",
        "`python -m dcesynth.bench.nothere`": "no such module",
        "`workflow/dcesynth/nothere.py`": "no such file or folder in the repository",
        "`results/nowhere/x.tsv`": "`results/nowhere/x.tsv`: not an output",
    }
    for text, found in wrong.items():
        page.write_text(f"# Page\n\n{text}\n")
        problems = problems_of(page)
        assert any(found in p for p in problems), (text, problems)
    right = ["[x](other.md#a-heading)", "`gan.niter`", "`resources.train_epoch`", "`gan: {niter: 1, lr: 2}`",
             "```bash\nsnakemake --cores N --forcerun make_phantom crop_synthetic train_epoch_nodes\n```",
             "`snakemake --config device=cuda --set-resources train_epoch:mem_mb=1`",
             "`python -m dcesynth.bench.dag`", "`workflow/dcesynth/shipped.py`", "`results/tables/{run}/table1.tsv`",
             "`results/models/NAME/state/epoch_0.pt`"]  # fmt: skip
    for text in right:
        page.write_text(f"# Page\n\n{text}\n")
        assert problems_of(page) == [], (text, problems_of(page))


def test_every_schema_key_is_in_config_readme():
    """Each key of the schema appears in config/README.md within the section of its top-level key: as its
    path below that key (`vgg.mode`) or its full path, in a code span; or, for a key inside a block the
    section documents in one row (`generator`: `ngf`, `netG`, ...), by its name in that row."""
    text = (REPO / "config" / "README.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)
    missing = []
    for path in schema_paths():
        if "*" in path:
            continue
        section = next((s for s in sections if s.startswith(f"`{path[0]}`")), "")
        if len(path) == 1:
            if not section:
                missing.append(path[0])
            continue
        spans = set(re.findall(r"`([^`\n]+)`", section))
        dotted = {".".join(path[1:]), ".".join(path)}
        in_spans = any(d in sp.split(":")[0].replace(" ", "").split(",") or sp.startswith(d) for sp in spans for d in dotted)
        parent = ".".join(path[1:-1])
        in_parent_row = bool(parent) and any(
            re.search(rf"`{re.escape(parent)}`", row) and re.search(rf"`{re.escape(path[-1])}`", row)
            for row in section.split("\n"))
        # a row of the section's table of keys: | `a`, `leaf` | ...
        in_key_row = re.search(rf"^\| (`[^`]+`, )*`{re.escape(path[-1])}`[ ,|]", section, re.M)
        if not (in_spans or in_parent_row or in_key_row or ".".join(path) in text):
            missing.append(".".join(path))
    assert not missing, f"schema keys config/README.md does not document: {missing}"


def test_the_changelog_names_this_version():
    import dcesynth

    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    assert dcesynth.__version__ == version
    first = re.search(r"^## (\d+\.\d+\.\d+)", (REPO / "CHANGELOG.md").read_text(), re.M).group(1)
    assert first == version, f"CHANGELOG.md's latest version is {first}, pyproject.toml's {version}"
