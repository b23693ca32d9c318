"""``aplnet notes``: the chapter listing, printing a chapter, and the chapters' form."""

import re
import subprocess
import sys

import pytest

from aplnet import chapters as notes
from aplnet.chapters import apl_blocks, chapters, find
from aplnet.cli import main as cli_main

MINE = ["unet", "convolution", "small-cnn", "chain-rule", "activations", "training"]

# A Dyalog name: letters (ASCII and the Latin-1 accented ones), ∆ ⍙ _, then digits and ¯ too.
APL_NAME = re.compile(r"^[A-Za-zÀ-ÖØ-öø-þ∆⍙_][A-Za-zÀ-ÖØ-öø-þ∆⍙_0-9¯]*$")


def _write(folder, name, text):
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def shelf(tmp_path, monkeypatch):
    """A notes directory of two small chapters, made the one ``main`` reads."""
    _write(tmp_path, "02-beta.md", "# Beta\n\n*The second. More text.*\n\nBody.\n")
    _write(tmp_path, "01-alpha.md", "# Alpha\n\nFirst of all, e.g. this. Then more.\n")
    _write(tmp_path, "README.md", "# not a chapter\n")
    monkeypatch.setattr(notes, "NOTES", tmp_path)
    return tmp_path


# ---------------------------------------------------------------- listing


def test_chapters_01_to_06_are_there_in_reading_order():
    numbered = {c.number: c.name for c in chapters()}
    assert [numbered.get(n) for n in range(1, 7)] == MINE


def test_listing_is_in_number_order_and_skips_other_files(shelf):
    assert [c.name for c in chapters(shelf)] == ["alpha", "beta"]


def test_summary_is_the_first_sentence_without_emphasis(shelf):
    assert [(c.title, c.summary) for c in chapters(shelf)] == [
        ("Alpha", "First of all, e.g. this."), ("Beta", "The second.")]


def test_notes_lists_every_chapter_with_its_summary(shelf, capsys):
    assert notes.main(None) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == ["01  Alpha", "    First of all, e.g. this.", "02  Beta", "    The second."]


def test_listing_of_the_real_notes_has_one_summary_line_per_chapter(capsys):
    assert notes.main(None) == 0
    out = capsys.readouterr().out.splitlines()
    for chapter in chapters():
        at = out.index(f"{chapter.number:02d}  {chapter.title}")
        assert out[at + 1].strip() and out[at + 1].startswith("    ")


def test_cli_dispatches_notes(capsys):
    assert cli_main(["notes"]) == 0
    assert "02  Convolution and cross-correlation" in capsys.readouterr().out


def test_empty_notes_directory_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(notes, "NOTES", tmp_path)
    assert notes.main(None) == 2
    assert "no chapters" in capsys.readouterr().err


def test_missing_notes_directory_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(notes, "NOTES", tmp_path / "gone")
    assert notes.main("1") == 2
    assert "notes directory" in capsys.readouterr().err


# --------------------------------------------------------------- printing


@pytest.mark.parametrize("key", ["2", "02", "convolution", "02-convolution", "CONV"])
def test_a_chapter_is_found_by_number_or_name(key):
    assert find(key).name == "convolution"


def test_notes_n_prints_the_chapter_verbatim(capsys):
    assert cli_main(["notes", "3"]) == 0
    assert capsys.readouterr().out == find("3").text


@pytest.mark.parametrize("key, message", [
    ("9", r"no chapter '9'; the chapters are: 01 alpha, 02 beta"),
    ("gamma", r"no chapter 'gamma'"),
])
def test_unknown_chapter_returns_2_and_says_which_exist(shelf, capsys, key, message):
    assert notes.main(key) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.search(message, captured.err)


def test_ambiguous_prefix_names_the_candidates(shelf, capsys):
    _write(shelf, "03-alps.md", "# Alps\n")
    assert notes.main("al") == 2
    assert "'al' is ambiguous: it could be alpha, alps" in capsys.readouterr().err


def test_python_m_aplnet_notes_prints_a_chapter():
    done = subprocess.run([sys.executable, "-m", "aplnet", "notes", "chain-rule"],
                          capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("# The chain rule")


# ------------------------------------------------------ the chapters' form


@pytest.mark.parametrize("chapter", chapters(), ids=lambda c: c.path.stem)
def test_every_apl_block_of_every_chapter_carries_a_check_marker(chapter):
    unmarked = [b.line + 1 for b in apl_blocks(chapter.text) if not b.kind]
    assert unmarked == []


@pytest.mark.parametrize("chapter", chapters(), ids=lambda c: c.path.stem)
def test_every_dyalog_only_marker_gives_its_reason(chapter):
    silent = [b.line + 1 for b in apl_blocks(chapter.text) if b.kind == "dyalog" and not b.reason]
    assert silent == []


@pytest.mark.parametrize("name", MINE)
def test_every_check_names_valid_apl_names_and_an_expected_value(name):
    for block in apl_blocks(find(name).text):
        assert all(APL_NAME.match(n) for n in block.names), (block.line + 1, block.names)
        assert block.expected, block.line + 1


@pytest.mark.parametrize("name", MINE)
def test_dyalog_only_lines_say_why_in_the_marker_and_beside_the_line(name):
    text = find(name).text
    for block in apl_blocks(text):
        if block.kind == "dyalog":
            after = "\n".join(text.splitlines()[block.line:block.line + 12])
            assert block.reason, block.line + 1
            assert "libjay cannot run this one" in after, block.line + 1


@pytest.mark.parametrize("name", MINE)
def test_each_chapter_has_apl_lines_and_doctests(name):
    text = find(name).text
    assert len(apl_blocks(text)) >= 3
    assert text.count("\n>>> ") >= 10


def test_marker_parsing_reads_names_renames_and_reason():
    md = ("```apl\n∆W←x+y\n```\n\n"
          "<!-- dyalog: x ∆y=dy | f(x, dy) | no such primitive -->\n")
    (block,) = apl_blocks(md)
    assert (block.kind, block.names, block.expected, block.reason) == (
        "dyalog", {"x": "x", "∆y": "dy"}, "f(x, dy)", "no such primitive")
