"""Project-level checks: the docs name every command, the deployment file is valid."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

from trialwatch.cli import app

ROOT = Path(__file__).parents[1]


def _command_paths() -> list[str]:
    root = get_command(app)
    assert hasattr(root, "commands")
    paths: list[str] = []
    for name, command in sorted(root.commands.items()):
        if hasattr(command, "commands"):
            paths.extend(f"{name} {sub}" for sub in sorted(command.commands))
        else:
            paths.append(name)
    return paths


@pytest.mark.parametrize("path", _command_paths())
def test_every_command_has_help_and_is_in_the_readme(path: str) -> None:
    """Each command explains itself with --help and appears in README.md."""
    runner = CliRunner()
    result = runner.invoke(app, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert f"trialwatch {path}" in (ROOT / "README.md").read_text()


def test_docker_compose_is_valid_and_wires_postgres() -> None:
    """The compose file passes the Compose schema; init, run, Mailpit and db are wired."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    compose_file = ROOT / "docker-compose.yml"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(compose_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load(compose_file.read_text())
    services = compose["services"]
    assert set(services) == {"db", "mailpit", "init", "run", "web"}
    assert "pgdata" in compose["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])

    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    published = {str(port).rsplit(":", 2)[-1] for port in services["mailpit"]["ports"]}
    assert {"1025", "8025"} <= published

    init, run, web = services["init"], services["run"], services["web"]
    assert init["command"] == ["init"]
    assert init["depends_on"]["db"]["condition"] == "service_healthy"
    assert run["command"] == ["run"]
    assert run["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert run["healthcheck"]["test"][-3:] == ["trialwatch", "status", "--json"]
    for service in (init, run, web):
        assert "./config:/app/config:ro" in service["volumes"]
        env = service["environment"]
        url = env["TRIALWATCH_DATABASE_URL"]
        assert url.startswith("postgresql://")
        assert "@db:5432/" in url
        assert env["TRIALWATCH_SMTP_URL"] == "${TRIALWATCH_SMTP_URL:-smtp://mailpit:1025}"

    # The web server answers every digest's manage, unsubscribe and one-click links:
    # a plain `docker compose up` starts it, once init has migrated the database.
    assert "profiles" not in web
    assert web["command"] == ["serve", "--host", "0.0.0.0"]
    assert any(str(port).endswith("8000:8000") for port in web["ports"])
    assert web["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert web["environment"] == init["environment"]
    assert web["healthcheck"]["test"][:3] == ["CMD", "python", "-c"]

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["trialwatch"]' in dockerfile
    assert "\nUSER trialwatch\n" in dockerfile


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_the_web_healthcheck_passes_only_while_the_server_answers(tmp_path: Path) -> None:
    """The compose healthcheck's one-liner fails with no server, passes against `serve`."""
    import os
    import time

    from trialwatch.store.db import make_engine, upgrade

    test = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    port = _free_port()
    code = test["healthcheck"]["test"][3].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    assert str(port) in code

    def check() -> int:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, timeout=30
        ).returncode

    engine = make_engine(f"sqlite:///{tmp_path / 'tw.db'}")
    upgrade(engine)
    engine.dispose()
    env = {
        **os.environ,
        "TRIALWATCH_CONFIG": str(ROOT / "config" / "trialwatch.toml"),
        "TRIALWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'tw.db'}",
        "TRIALWATCH_SECRET_KEY": "k" * 32,
    }
    assert check() != 0
    server = subprocess.Popen(
        [sys.executable, "-m", "trialwatch", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while check() != 0:
            assert server.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "the healthcheck never passed"
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_example_env_lists_every_setting() -> None:
    """config/example.env names every TRIALWATCH_* setting."""
    from trialwatch.config import Settings

    text = (ROOT / "config" / "example.env").read_text()
    for name in Settings.model_fields:
        if name != "config_file":
            assert f"TRIALWATCH_{name.upper()}=" in text, name


# Settings config/trialwatch.toml may set to something other than the code default,
# each with the words its comment must say (the reason, judged true when listed here).
SHIPPED_OVERRIDES: dict[str, str] = {}


def _comment_above(lines: list[str], key: str) -> str:
    """The comment lines directly above ``key = ...`` in a TOML file, joined."""
    index = next(i for i, line in enumerate(lines) if re.match(rf"{key}\s*=", line))
    comments: list[str] = []
    for line in reversed(lines[:index]):
        if not line.startswith("#"):
            break
        comments.insert(0, line.lstrip("# "))
    return " ".join(comments)


def test_the_shipped_config_overrides_no_default_without_a_reason() -> None:
    """Each key config/trialwatch.toml sets equals the code default, or says why not."""
    import tomllib

    from trialwatch.config import Settings, load_settings

    path = ROOT / "config" / "trialwatch.toml"
    text = path.read_text()
    shipped = load_settings({"TRIALWATCH_CONFIG": str(path)})
    for key in tomllib.loads(text):
        default = Settings.model_fields[key].default
        value = getattr(shipped, key)
        if isinstance(default, Path):  # relative to the repository root, where `make run` runs
            default = (ROOT / default).resolve()
            value = value.resolve()
        if value == default:
            continue
        assert key in SHIPPED_OVERRIDES, f"{key} = {value!r} overrides the default {default!r}"
        assert SHIPPED_OVERRIDES[key] in _comment_above(text.splitlines(), key), key


def test_example_env_gives_every_setting_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The values config/example.env lists are the code defaults (it says so)."""
    from trialwatch.config import load_settings

    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "config" / "trialwatch.toml"
    empty.parent.mkdir()
    empty.write_text("")
    env = dict(
        line.split("=", 1)
        for line in (ROOT / "config" / "example.env").read_text().splitlines()
        if line.startswith("TRIALWATCH_")
    )
    assert env.pop("TRIALWATCH_CONFIG") == "config/trialwatch.toml"
    listed = load_settings({**env, "TRIALWATCH_CONFIG": str(empty)})
    defaults = load_settings({"TRIALWATCH_CONFIG": str(empty)})

    def resolved(values: dict[str, object]) -> dict[str, object]:
        return {k: v.resolve() if isinstance(v, Path) else v for k, v in values.items()}

    assert resolved(listed.model_dump()) == resolved(defaults.model_dump())


def test_the_sync_benchmark_uses_the_default_page_size() -> None:
    """bench/sync.py measures what users run: the default TRIALWATCH_PAGE_SIZE."""
    from trialwatch.config import Settings

    match = re.search(r"^DEFAULT_PAGE_SIZE = (\d+)", (ROOT / "bench" / "sync.py").read_text(), re.M)
    assert match is not None
    assert int(match.group(1)) == Settings.model_fields["page_size"].default


# --- the layout (issue "The house") ------------------------------------------------------

SRC = ROOT / "src" / "trialwatch"


def _imports(path: Path) -> set[str]:
    """Every module a source file imports (absolute names, ``from x import y`` as ``x``)."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules(package: str = "") -> list[Path]:
    base = SRC / package if package else SRC
    return sorted(p for p in base.rglob("*.py") if "migrations" not in p.parts)


def _importers(prefix: str) -> set[str]:
    """The source files (relative to src/trialwatch) that import ``prefix`` or below it."""
    return {
        str(path.relative_to(SRC))
        for path in _modules()
        if any(name == prefix or name.startswith(prefix + ".") for name in _imports(path))
    }


@pytest.mark.parametrize(
    "domain", ["watchlists", "places", "registries", "diff", "digest", "mail", "jobs"]
)
def test_the_store_imports_no_domain_package(domain: str) -> None:
    """store/ is rows in, rows out: it never calls up into registries, diff, digest, mail, jobs."""
    assert {p for p in _importers(f"trialwatch.{domain}") if p.startswith("store/")} == set()


@pytest.mark.parametrize(
    ("library", "home"), [("smtplib", "mail/"), ("httpx", "registries/")], ids=["smtplib", "httpx"]
)
def test_each_io_library_is_imported_in_its_own_package_only(library: str, home: str) -> None:
    """smtplib only under mail/, httpx only under registries/."""
    importers = _importers(library)
    assert importers, f"{library} is imported nowhere: the rule checks nothing"
    assert {p for p in importers if not p.startswith(home)} == set()


@pytest.mark.parametrize("package", ["diff", "digest"])
@pytest.mark.parametrize("library", ["sqlalchemy", "smtplib", "httpx"])
def test_the_pure_packages_import_no_io_library(package: str, library: str) -> None:
    """diff/ and digest/ are pure: no database, no SMTP, no HTTP."""
    assert {p for p in _importers(library) if p.startswith(f"{package}/")} == set()


def test_every_exception_class_is_defined_in_errors_and_drawn_in_its_tree() -> None:
    """One error tree: each exception class lives in errors.py and appears in its docstring."""
    import ast
    import builtins

    import trialwatch.errors as errors

    exception_names = {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    } | {"TrialwatchError"}
    outside = []
    for path in _modules():
        if path.name == "errors.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                if bases & exception_names or any(
                    b.endswith(("Error", "Exception")) for b in bases
                ):
                    outside.append(f"{path.relative_to(SRC)}: {node.name}")
    assert outside == []
    doc = errors.__doc__ or ""
    for name, value in vars(errors).items():
        if isinstance(value, type) and issubclass(value, Exception):
            assert name in doc, f"{name} is not drawn in the errors.py tree"


def _function_lengths(path: Path) -> list[tuple[str, int]]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.name, (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_no_function_in_src_is_over_150_lines() -> None:
    """Long functions are split by what they do (a reason in a docstring would be needed)."""
    long = [
        f"{path.relative_to(SRC)}:{name} ({lines} lines)"
        for path in _modules()
        for name, lines in _function_lengths(path)
        if lines > 150
    ]
    assert long == []


def test_the_status_words_are_written_once() -> None:
    """Each status code's label appears as a string literal in one module of src/ only."""
    import ast

    from trialwatch.words.digest import STATUSES

    labels = {s.label for s in STATUSES.values()}
    homes: dict[str, set[str]] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in labels:
                homes.setdefault(str(node.value), set()).add(str(path.relative_to(SRC)))
    assert {label: files for label, files in homes.items() if files != {"words/terms.py"}} == {}


def test_tests_mirror_the_package() -> None:
    """Each package of src/ has its test folder; shared fakes live in tests/support/."""
    tests = ROOT / "tests"
    for package in ("registries", "diff", "digest", "mail", "store", "jobs", "cli"):
        assert (tests / package / "__init__.py").is_file(), package
    assert (tests / "support" / "fakeapi.py").is_file()
    assert (tests / "support" / "smtpserver.py").is_file()


# --- the second wing (issue "The house, second wing") ------------------------------------

CTGOV_PATHS = ("protocolSection", "derivedSection", "resultsSection")


def test_only_the_ctgov_registry_reads_ctgov_record_paths() -> None:
    """A file that names a CT.gov record path is under registries/ctgov/ (the rest reads trials)."""
    readers = {
        str(path.relative_to(SRC))
        for path in _modules()
        if any(name in path.read_text(encoding="utf-8") for name in CTGOV_PATHS)
    }
    assert readers, "no module reads a CT.gov record: the rule checks nothing"
    assert {p for p in readers if not p.startswith("registries/ctgov/")} == set()


def test_mail_imports_nothing_from_digest() -> None:
    """mail/ renders and sends any message; the digest is one of its users, not its master."""
    assert {p for p in _importers("trialwatch.digest") if p.startswith("mail/")} == set()


def test_config_imports_no_adapter() -> None:
    """Settings are read without loading a registry, mail or database adapter."""
    adapters = ("trialwatch.registries", "trialwatch.mail", "trialwatch.store", "httpx")
    assert {n for n in _imports(SRC / "config.py") if n.startswith(adapters)} == set()


# String literals in diff/ and digest/ that may hold more than a few words, with the reason.
LONG_LITERAL_WAIVERS: dict[str, str] = {}
MAX_WORDS = 3


def _literals(path: Path) -> list[str]:
    """The string constants of a module, docstrings left out."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    # A bare string after an assignment documents it (attribute docstrings).
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            stmts = getattr(node, field, None)
            for stmt in stmts if isinstance(stmts, list) else []:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    docstrings.add(id(stmt.value))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize("package", ["diff", "digest"])
def test_no_english_sentence_is_built_outside_words(package: str) -> None:
    """diff/ and digest/ speak in codes: their literals are at most a few words (words/ says it)."""
    found = [
        f"{path.relative_to(SRC)}: {text!r}"
        for path in _modules(package)
        for text in _literals(path)
        if len(text.split()) > MAX_WORDS and text not in LONG_LITERAL_WAIVERS
    ]
    assert found == []


# Functions over 60 lines, each with the reason it stays whole.
LONG_FUNCTION_WAIVERS: dict[str, str] = {
    "cli/change_cmds.py:changes": "a Typer command: its signature declares twelve options",
    "cli/digest_cmds.py:outbox_cmd": "a Typer command: its signature declares nine options",
    "cli/subscriber_cmds.py:add": "a Typer command: its signature declares eleven options",
    "jobs/digests.py:_assemble": "one subscriber's digest, step by step, read top to bottom",
    "jobs/digests.py:_build": "one claimed batch's transaction: claim, build, queue, advance",
    "mail/message.py:build_message": "one header after another, each with its own escaping rule",
    "registries/ctgov/client.py:iter_pages": "the page loop and its three loop guards together",
    "store/studies.py:store_versions": "one transaction's steps in order (see its docstring)",
}


def test_no_function_is_over_60_lines_without_a_listed_reason() -> None:
    """A function over 60 lines is split by what it does, or listed here with why not."""
    long = [
        f"{path.relative_to(SRC)}:{name} ({lines} lines)"
        for path in _modules()
        for name, lines in _function_lengths(path)
        if lines > 60 and f"{path.relative_to(SRC)}:{name}" not in LONG_FUNCTION_WAIVERS
    ]
    assert long == []
    stale = [
        key
        for key in LONG_FUNCTION_WAIVERS
        if not any(
            f"{p.relative_to(SRC)}:{n}" == key and lines > 60
            for p in _modules()
            for n, lines in _function_lengths(p)
        )
    ]
    assert stale == [], "waivers for functions that are short now (or gone): remove them"


def test_no_module_is_over_400_lines_without_a_reason_in_its_docstring() -> None:
    """A module over 400 lines says why in its docstring ("Over 400 lines because ...")."""
    import ast

    long = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= 400:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "Over 400 lines because" not in doc:
            long.append(f"{path.relative_to(SRC)} ({text.count(chr(10))} lines)")
    assert long == []
