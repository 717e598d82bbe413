"""The sizes (issue 37): no source file outside the tests over 450 lines, no function over
80 (signature to closing brace), with the function-length check's own tests."""
import re

import pytest

from source_tree import REPO, SRC

MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 80
RAW_STRING = re.compile(r'R"([^()\\ ]{0,16})\(')
BODY_AFTER = re.compile(r"\)\s*(const|override|final|noexcept|mutable|\s)*"
                        r"(->\s*[\w:<>,*&\s]+)?$")
CONTROL = re.compile(r"\b(if|for|while|switch|catch)\s*\($")


def blank_out(text):
    """`text` with comments, string and character literals (raw strings too) replaced by
    spaces, newlines kept: braces and parentheses left are the code's own."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        raw = RAW_STRING.match(text, i) if c == "R" else None
        if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find(")" + raw.group(1) + '"', raw.end())
            end = n if end < 0 else end + len(raw.group(1)) + 2
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
        elif c in "\"'" and not (c == "'" and i > 0 and text[i - 1].isalnum()):
            end = i + 1
            while end < n and text[end] != c and text[end] != "\n":
                end += 2 if text[end] == "\\" else 1
            end += 1
        else:
            out.append(c)
            i += 1
            continue
        out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
        i = end
    return "".join(out)


def long_functions(text, limit=MAX_FUNCTION_LINES):
    """(first line, lines) of each function longer than `limit`, from the first line of its
    declaration to its closing brace: free functions, methods defined in or out of a class
    and lambdas at namespace scope. A body is a `{` after a parameter list's `)` (with
    const/override/noexcept or a trailing return type between) or after a constructor's
    initializer list; what a function body holds (lambdas, blocks) counts as its own."""
    code = blank_out(text)
    found, stack, statement_start = [], [], 0
    for i, c in enumerate(code):
        if c in ";}":
            if c == "}" and stack:
                kind, first = stack.pop()
                if kind == "function":
                    size = code.count("\n", first, i) + 1
                    if size > limit:
                        found.append((code.count("\n", 0, first) + 1, size))
            statement_start = i + 1
        elif c == "{":
            head = code[statement_start:i]
            in_function = any(kind == "function" for kind, _ in stack)
            opens_body = not in_function and (
                BODY_AFTER.search(head.rstrip()) or re.search(r"\)\s*:\s*[\w:]+\s*[({]", head))
            if opens_body and not CONTROL.search(head.rstrip()[:-1].rstrip() + "("):
                stack.append(("function", statement_start + len(head) - len(head.lstrip())))
            else:
                stack.append(("block", i))
            statement_start = i + 1
        elif c == ":" and code[statement_start:i].strip() in ("public", "private", "protected"):
            statement_start = i + 1
    return found


def test_no_source_file_or_function_too_long_outside_tests():
    # issue 37: no source file over 450 lines, no function over 80, tests aside. The aim
    # is files and functions of one meaning each (style.md); the numbers are the alarm.
    production = [p for p in SRC.rglob("*") if p.suffix in (".cc", ".h")
                  and not p.name.endswith("_test.cc") and "test_support" not in p.parts]
    problems = []
    for path in sorted(production):
        text = path.read_text(errors="replace")
        count = text.count("\n")
        if count > MAX_FILE_LINES:
            problems.append(f"{path.relative_to(REPO)}: {count} lines")
        problems += [f"{path.relative_to(REPO)}:{line}: a function of {size} lines"
                     for line, size in long_functions(text)]
    assert not problems, "\n".join(problems)


BODY = "\n".join(f"    x += {i};" for i in range(MAX_FUNCTION_LINES))
LONG_FUNCTIONS = {  # each one line over the limit or more, as the check counts
    "free, signature on two lines": f"namespace a {{\n// why\narrow::Status Long(int x,\n"
                                    f"                   int y) {{\n{BODY}\n}}\n}}\n",
    "method in a class body": f"class A {{\n public:\n  int Long() const {{\n{BODY}\n  }}\n}};\n",
    "operator": f"bool operator==(const A& a, const A& b) {{\n{BODY}\n}}\n",
    "template with a default": f"template <typename T = int>\nT Long(T x) {{  // why\n{BODY}\n}}\n",
    "head starting with struct": f"struct Foo* Make(int x) {{\n{BODY}\n}}\n",
    "raw string holding a brace": f'int Long() {{\n  const char* s = R"(\n}}\n)";\n{BODY}\n}}\n',
    "constructor with braced members": f"A::A(int x) : x_{{x}}, y_(2) {{\n{BODY}\n}}\n",
    "lambda at namespace scope": f"const auto kF = [](int x) {{\n{BODY}\n}};\n",
    "trailing return type": f"auto F(int x) -> int {{\n{BODY}\n}}\n",
}


@pytest.mark.parametrize("case", sorted(LONG_FUNCTIONS))
def test_the_function_length_check_finds_a_long_function(case):
    found = long_functions(LONG_FUNCTIONS[case])
    assert len(found) == 1 and found[0][1] > MAX_FUNCTION_LINES, found
    # Blocks inside, short functions and class bodies are not reported.
    short = "int F() {\n  if (x) {\n    return 1;\n  }\n}\nclass B {\n  int G() { return 2; }\n};\n"
    assert long_functions(short) == []
