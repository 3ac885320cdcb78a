"""Unit tests of the notebook runner's instrumentation (run by scripts/test.sh before the notebooks)."""
import importlib.util
import pathlib
import unittest

spec = importlib.util.spec_from_file_location("run_notebooks", pathlib.Path(__file__).with_name("run_notebooks.py"))
rn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rn)
MARK = f'println!("{rn.MARK}");'


def split(code):
    """(statements, final expression) around the marker the runner inserts."""
    before, after = rn.instrument(code).split(MARK)
    return before.strip(), after.strip()


class FinalExpression(unittest.TestCase):
    def test_one_line(self):
        self.assertEqual(split("let x = 1;\nx"), ("let x = 1;", "x"))

    def test_statements_only(self):
        self.assertEqual(split("let x = 1;"), ("let x = 1;", ""))

    def test_spanning_lines_with_a_block_and_a_semicolon_inside(self):
        code = 'df\n    .lazy()\n    .filter(col("a").map(|x| { let y = x; y }))\n    .collect()'
        self.assertEqual(split("let df = f()?;\n" + code), ("let df = f()?;", code))

    def test_a_match_expression(self):
        code = "match x {\n    Some(v) => v,\n    None => 0,\n}"
        self.assertEqual(split(code), ("", code))

    def test_after_a_for_loop_and_a_function(self):
        self.assertEqual(split('for b in bands { println!("{b}"); }\ndf'), ('for b in bands { println!("{b}"); }', "df"))
        self.assertEqual(split("fn f<'a>(x: &'a str) {}\nx"), ("fn f<'a>(x: &'a str) {}", "x"))

    def test_strings_chars_and_comments_hide_their_semicolons_and_braces(self):
        self.assertEqual(split('let s = "a;}";\ns.len()'), ('let s = "a;}";', "s.len()"))
        self.assertEqual(split("let c = '}';\nc"), ("let c = '}';", "c"))
        self.assertEqual(split("// a; comment\nmatched\n  .df()"), ("", "// a; comment\nmatched\n  .df()"))

    def test_evcxr_commands_are_left_alone(self):
        self.assertIsNone(rn.instrument(':dep xcluster = { path = ".." }'))


if __name__ == "__main__":
    unittest.main()
