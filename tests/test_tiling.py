"""Tests of overlap-tile prediction (aplnet.tiling) and the pictures it writes."""

import numpy as np
import pytest
from PIL import Image

from aplnet import layers
from aplnet.apl import DomainError, LengthError, RankError
from aplnet.data import read_mask
from aplnet.intensity import normalize
from aplnet.pictures import loss_curve, mask_image, overlay_image
from aplnet.tiling import default_tile, margin, predict, predict_files, segment
from aplnet.unet import UNet


def _whole(net, image):
    """One pass over the whole image, mirrored by the margin (possible for some sizes)."""
    m = margin(net.depth)
    return layers.softmax(net(np.pad(image, ((m, m), (m, m), (0, 0)), mode="reflect")))


@pytest.mark.parametrize("depth, size, tile", [
    (3, (60, 76), 52),      # tile output 12, a multiple of the 4-pixel pooling grid
    (4, (28, 44), 100),     # tile output 12 on an 8-pixel grid: outputs overlap by 4
    (2, (14, 10), 22),
])
def test_tiled_prediction_equals_whole_image_prediction(rng, depth, size, tile):
    net = UNet(depth=depth, width=3, dtype=np.float64, seed=1)
    image = rng.random(size + (1,))
    np.testing.assert_allclose(predict(net, image, tile=tile), _whole(net, image),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("hw", [(1, 1), (7, 300), (45, 13), (130, 131)])
def test_prediction_has_the_images_size_and_sums_to_one(rng, hw):
    net = UNet(depth=3, width=2)
    p = predict(net, rng.random(hw + (1,)).astype(np.float32), tile=60)
    assert p.shape == hw + (2,) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(-1), 1, rtol=1e-5)


def test_tile_batches_do_not_change_the_result(rng):
    net = UNet(depth=3, width=2, dtype=np.float64)
    image = rng.random((50, 70, 1))
    np.testing.assert_allclose(predict(net, image, tile=48, batch=1),
                               predict(net, image, tile=48, batch=7), rtol=1e-12)


def test_segment_is_the_argmax(rng):
    net = UNet(depth=2, width=2, classes=3, dtype=np.float64)
    image = rng.random((9, 11, 1))
    np.testing.assert_array_equal(segment(net, image), predict(net, image).argmax(-1))


def test_default_tile_covers_small_images_and_stops_near_572():
    assert default_tile(5, 100) == 284 and default_tile(5, 5000) == 572
    assert default_tile(3, 10) == 52 and default_tile(3, 1) == 44
    assert default_tile(5, 1) == 204   # 188's 4-pixel output is less than the 16-pixel grid


@pytest.mark.parametrize("image, tile, error, match", [
    (np.zeros((9, 9, 2), np.float32), None, LengthError, "2 channel.*in_channels=1"),
    (np.zeros((9, 9), np.float32), None, RankError, r"image must have shape \(H, W, C\)"),
    (np.zeros((9, 9, 1), np.uint8), None, TypeError, "image must hold floats"),
    (np.zeros((9, 9, 1), np.float32), 50, DomainError, "tile 50 is not valid.*48 and 52"),
])
def test_bad_prediction_input_is_named(image, tile, error, match):
    with pytest.raises(error, match=match):
        predict(UNet(depth=3, width=2), image, tile=tile)


def test_a_tile_smaller_than_the_pooling_grid_is_refused():
    with pytest.raises(DomainError, match="tile 92 gives 4-pixel outputs.*8-pixel.*use at least 100"):
        predict(UNet(depth=4, width=1), np.zeros((9, 9, 1), np.float32), tile=92)


# ---------------------------------------------------------------- files


def test_predict_files_writes_masks_that_read_back(tmp_path, rng):
    net = UNet(depth=2, width=2)
    pixels = (rng.random((20, 30)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    written = predict_files(net, [str(tmp_path / "a.png")], str(tmp_path / "out"),
                            log=lambda line: None, progress=False)
    assert [p.rsplit("/", 1)[-1] for p in written] == ["a_mask.png", "a_overlay.png"]
    expected = segment(net, normalize(pixels[..., None], net.normalization))
    np.testing.assert_array_equal(read_mask(written[0])[0], expected)


def test_predict_files_names_an_image_with_the_wrong_channels(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(LengthError, match=r"rgb\.png: the image has 3 channel\(s\).*trained on 1"):
        predict_files(UNet(depth=2, width=2), [str(tmp_path / "rgb.png")], str(tmp_path))


# ------------------------------------------------------------- pictures


@pytest.mark.parametrize("classes", [2, 3])
def test_mask_pictures_read_back_as_the_classes(tmp_path, classes):
    labels = np.arange(12).reshape(3, 4) % classes
    mask_image(labels, classes).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png")[0], labels)


def test_overlay_tints_foreground_and_keeps_background_grey():
    image = np.full((4, 4, 1), 0.5)
    labels = np.zeros((4, 4), int)
    labels[:2] = 1
    rgb = np.array(overlay_image(image, labels))
    assert (rgb[3, 0] == rgb[3, 0, 0]).all() and rgb[0, 0, 1] > rgb[0, 0, 0]


def test_loss_curve_draws_a_chart_of_the_requested_size():
    im = loss_curve(np.linspace(1, 0.1, 100) + 0.02 * np.sin(np.arange(100)), 10, size=(300, 200))
    assert im.size == (300, 200)
    assert len(np.unique(np.array(im).reshape(-1, 3), axis=0)) > 3
