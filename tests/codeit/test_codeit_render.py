"""codeit.render: real PNGs, checked by size and by their pixels."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from codeit.data import ArcTask, Example
from codeit.render import PALETTE, RIGHT, WRONG, draw_grids, draw_task

A = ((1, 2, 3), (4, 5, 6))
B = ((7, 8), (9, 0), (1, 1))
TASK = ArcTask("demo", train=(Example(A, B), Example(B, A)), test=(Example(A, B),))


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def image(path: Path) -> Image.Image:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as png:
        png.verify()
    return Image.open(path).convert("RGB")


def colours(path: Path) -> set[tuple[int, int, int]]:
    return {colour for _count, colour in image(path).getcolors(maxcolors=1 << 20)}


def test_each_colour_is_drawn_in_the_arc_palette(tmp_path: Path) -> None:
    path = draw_grids([(str(c), ((c,),)) for c in range(10)], tmp_path / "ten.png")
    png = image(path)
    assert png.size == (2000, 240)  # ten panels of 200 x 240 pixels
    centres = [png.getpixel((200 * c + 100, 130)) for c in range(10)]
    assert centres == [rgb(PALETTE[c]) for c in range(10)]
    assert PALETTE[1] == "#0074D9" and PALETTE[9] == "#870C25"


def test_more_grids_make_a_wider_image(tmp_path: Path) -> None:
    sizes = [image(draw_grids([("g", A)] * n, tmp_path / f"{n}.png")).size for n in (1, 2, 4)]
    widths, heights = zip(*sizes, strict=True)
    assert widths[0] < widths[1] < widths[2] and len(set(heights)) == 1


def test_task_with_predictions_marks_them_right_or_wrong(tmp_path: Path) -> None:
    plain = image(draw_task(TASK, tmp_path / "plain.png"))
    right = tmp_path / "right.png"
    draw_task(TASK, right, predictions=[B])
    wrong = tmp_path / "wrong.png"
    draw_task(TASK, wrong, predictions=[[A, "ProgramRuntimeError: line 2: no such colour"]])
    assert image(right).size[0] > plain.size[0]  # a prediction column
    assert image(wrong).size[0] > image(right).size[0]  # two attempts
    assert plain.size[1] == image(right).size[1]  # one row per example either way
    assert rgb(RIGHT) in colours(right) and rgb(WRONG) not in colours(right)
    assert rgb(WRONG) in colours(wrong) and rgb(RIGHT) not in colours(wrong)
    assert rgb(RIGHT) not in colours(tmp_path / "plain.png")


def test_bad_grids_and_predictions_raise_value_error(tmp_path: Path) -> None:
    bad_grids = {
        "not rectangular": ((1, 2), (3,)),
        "colours are 0-9": ((1, 10),),
        "must have 1 to 30 rows": (),
        "non-integer": ((True, 1),),
    }
    for message, grid in bad_grids.items():
        with pytest.raises(ValueError, match=message):
            draw_grids([("ok", A), ("bad", grid)], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="at least one"):
        draw_grids([], tmp_path / "bad.png")
    broken = ArcTask("broken", train=(Example(A, ((1, 2), (3,))),), test=())
    with pytest.raises(ValueError, match="train 1 output: grid is not rectangular"):
        draw_task(broken, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="2 predictions for 1 test examples"):
        draw_task(TASK, tmp_path / "bad.png", predictions=[A, A])
    with pytest.raises(ValueError, match="prediction for test 1: grid row 0 holds colour 11"):
        draw_task(TASK, tmp_path / "bad.png", predictions=[((11,),)])
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_writes_atomically_into_new_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "task.png"
    draw_task(TASK, path)
    first = path.read_bytes()
    draw_task(TASK, path, predictions=[A])  # replaces the file as a whole
    assert path.read_bytes() != first
    assert [p.name for p in path.parent.iterdir()] == ["task.png"]
