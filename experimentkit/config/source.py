"""Reading a config function's source: its body as code, and the comments documenting entries."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any, Callable, Optional

__all__ = [
    "FunctionSource",
    "read_function_source",
    "collect_docs",
    "contains_return",
    "get_function_body",
    "dedent_function_body",
    "dedent_line",
    "is_empty_or_comment",
]


class FunctionSource:
    """The parsed ``def`` of a config function, with line numbers of the real file."""

    def __init__(self, node: ast.FunctionDef, filename: str):
        self.node = node
        self.filename = filename
        self.comments: dict[int, str] = {}  # real line number -> comment text
        self.comment_only: set[int] = set()  # lines holding nothing but a comment

    def compile_body(self) -> Any:
        """Compile the body as module-level code, so its assignments land in the locals mapping."""
        module = ast.Module(body=self.node.body, type_ignores=[])
        return compile(module, self.filename, "exec")


def read_function_source(func: Callable) -> Optional[FunctionSource]:
    """Parse ``func``'s ``def`` from its source file, or return None when the source is unavailable.

    Unavailable means: created by ``exec``/``eval``, a lambda, a builtin, or a file that no longer
    matches the code object (the parsed function must carry the same name).
    """
    import inspect

    if getattr(func, "__name__", "<lambda>") == "<lambda>":
        return None
    try:
        raw_lines, first = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return None
    first = max(first, 1)
    text = "".join(raw_lines)
    # An indented def (method, nested function) is parsed under "if 1:" instead of dedenting, which
    # would break on multi-line strings that start at column 0.
    wrapped = bool(raw_lines) and raw_lines[0][:1] in (" ", "\t")
    try:
        tree = ast.parse(("if 1:\n" + text) if wrapped else text)
    except SyntaxError:
        return None
    stmts = tree.body[0].body if wrapped and tree.body and isinstance(tree.body[0], ast.If) else tree.body
    node = stmts[0] if stmts else None
    if not isinstance(node, ast.FunctionDef) or node.name != func.__name__:
        return None
    ast.increment_lineno(tree, first - 1 - (1 if wrapped else 0))
    source = FunctionSource(node, func.__code__.co_filename)
    _read_comments(source, raw_lines, first)
    return source


def _read_comments(source: FunctionSource, raw_lines: list, first: int) -> None:
    import io
    import tokenize

    readline = io.StringIO("".join(raw_lines)).readline
    try:
        for tok in tokenize.generate_tokens(readline):
            if tok.type != tokenize.COMMENT:
                continue
            lineno = first + tok.start[0] - 1
            source.comments.setdefault(lineno, tok.string[1:].strip())
            if not tok.line[: tok.start[1]].strip():
                source.comment_only.add(lineno)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # a partial tokenization still documents the entries seen so far


def contains_return(node: ast.FunctionDef) -> tuple[bool, bool]:
    """``(has_return, has_yield)`` for the body itself, not for functions or classes defined in it."""
    has_return = has_yield = False
    todo: list[ast.AST] = list(node.body)
    while todo:
        current = todo.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(current, ast.Return):
            has_return = True
        elif isinstance(current, (ast.Yield, ast.YieldFrom, ast.Await)):
            has_yield = True
        todo.extend(ast.iter_child_nodes(current))
    return has_return, has_yield


def _targets(stmt: ast.stmt) -> Iterable[str]:
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    else:
        return
    todo = list(targets)
    while todo:
        target = todo.pop(0)
        if isinstance(target, ast.Name):
            yield target.id
        elif isinstance(target, (ast.Tuple, ast.List)):
            todo.extend(target.elts)


def _statements(body: list) -> Iterable[ast.stmt]:
    """Every statement of the body, including those nested in if/for/while/with/try blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(stmt, name, []) or [])
        for handler in getattr(stmt, "handlers", []) or []:
            yield from _statements(handler.body)


def collect_docs(source: FunctionSource, ignored_patterns: Iterable[str]) -> dict[str, str]:
    """Map each assigned name to its comment: on the same line, else the comment line right above.

    The search upwards stops at the first blank or code line; comments matching an ignored pattern
    (``SETTINGS.CONFIG.IGNORED_COMMENTS``, e.g. ``^pylint:``) are skipped.  The first documented
    assignment of a name wins.
    """
    patterns = [re.compile(p) for p in ignored_patterns]

    def usable(lineno: int) -> Optional[str]:
        text = source.comments.get(lineno)
        if text is None or any(p.match(text) for p in patterns):
            return None
        return text

    docs: dict[str, str] = {}
    for stmt in _statements(source.node.body):
        names = [n for n in _targets(stmt) if n not in docs]
        if not names:
            continue
        doc = usable(stmt.lineno) if stmt.lineno not in source.comment_only else None
        lineno = stmt.lineno - 1
        while doc is None and lineno in source.comment_only:
            doc = usable(lineno)
            lineno -= 1
        if doc:
            for name in names:
                docs[name] = doc
    return docs


# -- Sacred's text view of a config function (``sacred.config.config_scope``) ---------------------------
# experimentkit evaluates scopes from the parsed ``def`` above; these helpers give Sacred code the body
# as text, dedented, as Sacred's ConfigScope worked with it.


def get_function_body(func: Callable) -> tuple[str, int]:
    """The text after the colon that ends ``func``'s ``def`` line(s), and the file line it starts on."""
    import inspect
    import io
    import tokenize

    lines, first = inspect.getsourcelines(func)
    text = "".join(lines)
    depth, seen_def = 0, False
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string == "def" and depth == 0:
            seen_def = True
        elif tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif seen_def and depth == 0 and tok.type == tokenize.OP and tok.string == ":":
            row, col = tok.end
            head = "".join(lines[: row - 1]) + lines[row - 1][:col]
            return text[len(head) :], first + row - 1
    raise ValueError(f"no def found in the source of {func!r}")


def is_empty_or_comment(line: str) -> bool:
    """True for a blank line or one holding only a comment."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def dedent_line(line: str, indent: str) -> str:
    """``line`` without the leading characters it shares with ``indent`` (at most ``len(indent)``)."""
    shared = 0
    while shared < min(len(line), len(indent)) and line[shared] == indent[shared]:
        shared += 1
    return line[shared:]


def dedent_function_body(body: str) -> str:
    """``body`` with the indentation of its first code line removed from every line (comments and
    continuation lines may be indented less; they lose what they share)."""
    lines = body.split("\n")
    code = next((line for line in lines if not is_empty_or_comment(line)), "")
    indent = code[: len(code) - len(code.lstrip())]
    return "\n".join(dedent_line(line, indent) for line in lines)
