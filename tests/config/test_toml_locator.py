"""KeyLocator: the line on which a key is written, for error messages."""

from aigw.toml_locator import KeyLocator

DOC = '''\
# comment
data_dir = ".aigw"

[server]
host = "127.0.0.1"   # trailing comment
  port = 8787

[gateways.default]
rate_limit = { limit = 0, interval = 60, technique = "sliding" }
retry = { max_attempts = 1, nested = { deep = 1 }, after = "x" }
a.b.c = 1

[providers."custom-local"]
base_url = "http://x"
'quoted key' = 2
text = """
fake = 1
[fake.table]
"""
real = 3

[[servers]]
name = "x"
'''


def test_top_level_key():
    assert KeyLocator(DOC).line_of(("data_dir",)) == 2


def test_table_header():
    assert KeyLocator(DOC).line_of(("server",)) == 4


def test_key_in_table_indented_or_commented():
    locator = KeyLocator(DOC)
    assert locator.line_of(("server", "host")) == 5
    assert locator.line_of(("server", "port")) == 6


def test_keys_inside_an_inline_table_are_on_its_line():
    locator = KeyLocator(DOC)
    assert locator.line_of(("gateways", "default", "rate_limit", "technique")) == 9
    assert locator.line_of(("gateways", "default", "retry", "nested", "deep")) == 10
    assert locator.line_of(("gateways", "default", "retry", "after")) == 10


def test_dotted_key():
    assert KeyLocator(DOC).line_of(("gateways", "default", "a", "b", "c")) == 11


def test_quoted_header_and_quoted_key():
    locator = KeyLocator(DOC)
    assert locator.line_of(("providers", "custom-local", "base_url")) == 14
    assert locator.line_of(("providers", "custom-local", "quoted key")) == 15


def test_the_inside_of_multiline_strings_is_skipped():
    locator = KeyLocator(DOC)
    assert locator.line_of(("providers", "custom-local", "fake")) == 13  # falls back to the table
    assert locator.line_of(("fake", "table")) is None
    assert locator.line_of(("providers", "custom-local", "real")) == 20


def test_array_of_tables_and_array_indices():
    locator = KeyLocator(DOC)
    assert locator.line_of(("servers", 0, "name")) == 23


def test_unwritten_key_falls_back_to_its_nearest_parent():
    assert KeyLocator(DOC).line_of(("server", "workers")) == 4


def test_unknown_key_with_no_written_parent_is_none():
    assert KeyLocator(DOC).line_of(("nowhere", "at_all")) is None
