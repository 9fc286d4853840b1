"""The CIFAR model zoo against the reference implementation (RepDistiller, used by CRD).

Parameter counts and feature shapes were counted by running the reference code itself,
github.com/HobbitLong/RepDistiller, ``models/resnet.py``, ``models/resnetv2.py`` (ResNet50),
``models/wrn.py`` (``wrn_28_10`` is ``wrn(depth=28, widen_factor=10)``), ``models/vgg.py``
(``vgg*_bn``), ``models/mobilenetv2.py`` (``mobile_half``), ``models/ShuffleNetv1.py``
(``ShuffleV1``) and ``models/ShuffleNetv2.py`` (``ShuffleV2``): ``num_classes=100``,
``sum(p.numel() for p in model.parameters())``, and the shapes of ``forward(x,
is_feat=True)``'s feature list for a 32×32 input (batch dimension left out). The counts
include every learnable parameter (BN affine parameters and biases too).

Each model is built and run once (a batch of two images); the tests share that run.
"""

import pytest
import torch

from kdrepro.errors import ConfigError
from kdrepro.models import create_model, list_models

REFERENCE_PARAMS = {
    "resnet8": 83892,
    "resnet14": 181108,
    "resnet20": 278324,
    "resnet32": 472756,
    "resnet44": 667188,
    "resnet56": 861620,
    "resnet110": 1736564,
    "resnet8x4": 1233540,
    "resnet32x4": 7433860,
    "wrn_16_1": 180916,
    "wrn_16_2": 703284,
    "wrn_40_1": 569780,
    "wrn_40_2": 2255156,
    "wrn_28_10": 36536884,
    "vgg8": 3965028,
    "vgg11": 9277284,
    "vgg13": 9462180,
    "vgg16": 14774436,
    "vgg19": 20086692,
    "mobilenetv2": 812836,
    "shufflenetv1": 949258,
    "shufflenetv2": 1355528,
    "resnet50": 23705252,
}

# [stem, stage 1, …, stage k, pooled], each without the batch dimension
REFERENCE_FEATURE_SHAPES = {
    "resnet8": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "resnet14": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "resnet20": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "resnet32": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "resnet44": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "resnet56": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "resnet110": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "resnet8x4": [(32, 32, 32), (64, 32, 32), (128, 16, 16), (256, 8, 8), (256,)],
    "resnet32x4": [(32, 32, 32), (64, 32, 32), (128, 16, 16), (256, 8, 8), (256,)],
    "wrn_16_1": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "wrn_16_2": [(16, 32, 32), (32, 32, 32), (64, 16, 16), (128, 8, 8), (128,)],
    "wrn_40_1": [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)],
    "wrn_40_2": [(16, 32, 32), (32, 32, 32), (64, 16, 16), (128, 8, 8), (128,)],
    "wrn_28_10": [(16, 32, 32), (160, 32, 32), (320, 16, 16), (640, 8, 8), (640,)],
    "vgg8": [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 4, 4), (512,)],
    "vgg11": [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 4, 4), (512,)],
    "vgg13": [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 4, 4), (512,)],
    "vgg16": [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 4, 4), (512,)],
    "vgg19": [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 4, 4), (512,)],
    "mobilenetv2": [(16, 16, 16), (12, 16, 16), (16, 8, 8), (48, 4, 4), (160, 2, 2), (1280,)],
    "shufflenetv1": [(24, 32, 32), (240, 16, 16), (480, 8, 8), (960, 4, 4), (960,)],
    "shufflenetv2": [(24, 32, 32), (116, 16, 16), (232, 8, 8), (464, 4, 4), (1024,)],
    "resnet50": [(64, 32, 32), (256, 32, 32), (512, 16, 16), (1024, 8, 8), (2048, 4, 4), (2048,)],
}

# Stages that end in a linear bottleneck (no ReLU): the reference has one feature list,
# returned whatever ``preact`` says, and so have we; its stage features may be negative.
NO_PREACT = {"mobilenetv2"}

ZOO = list(REFERENCE_PARAMS)


@pytest.fixture(scope="module")
def one_thread():
    """Two-image forwards gain nothing from intra-op threads, and lose a lot when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=ZOO)
def run(request, one_thread):
    """(name, model, output) for a batch of two random 32×32 images, eval mode, no grad."""
    name = request.param
    model = create_model(name, num_classes=100, seed=0).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(x)
    return name, model, out


def test_every_zoo_name_is_registered():
    assert set(ZOO) <= set(list_models())
    assert set(REFERENCE_FEATURE_SHAPES) == set(ZOO)


def test_parameter_count_matches_the_reference(run):
    name, model, _ = run
    assert sum(p.numel() for p in model.parameters()) == REFERENCE_PARAMS[name]


def test_feature_shapes_match_the_reference(run):
    name, _, out = run
    expected = [(2, *s) for s in REFERENCE_FEATURE_SHAPES[name]]
    assert [tuple(f.shape) for f in out.features] == expected
    assert [tuple(f.shape) for f in out.preact_features] == expected


def test_output_contract(run):
    name, model, out = run
    assert out.logits.shape == (2, 100)
    feats, pre = out.features, out.preact_features
    assert len(feats) == len(pre) >= 3
    assert [f.shape for f in feats] == [p.shape for p in pre]
    # the last feature is the pooled vector the head reads
    assert feats[-1].dim() == 2
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(feats[-1]), out.logits)
    assert pre[-1] is feats[-1] and pre[0] is feats[0]
    stages = list(zip(feats[1:-1], pre[1:-1]))
    assert all(f.dim() == 4 for f, _ in stages)
    if name in NO_PREACT:
        assert all(p is f for f, p in stages)
    else:
        assert all(f.min() >= 0 for f, _ in stages)  # after the ReLU
        assert any(p.min() < 0 for _, p in stages)  # a real pre-ReLU response
        assert all(torch.equal(torch.relu(p), f) for f, p in stages)


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ConfigError, match="unknown model 'resnet9'.*resnet50.*wrn_40_2"):
        create_model("resnet9")


def test_cifar_mobilenet_has_the_layers_and_size_of_dml_table_1():
    # counted from the layer list of Howard et al. (stem stride 1 for 32×32): conv weights + BN affine
    widths = [(32, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512)] + [(512, 512)] * 5 + \
             [(512, 1024), (1024, 1024)]
    count = 3 * 32 * 9 + 2 * 32 + sum(cin * 9 + 2 * cin + cin * cout + 2 * cout for cin, cout in widths)
    count += 1024 * 100 + 100
    model = create_model("mobilenet", num_classes=100, seed=0).eval()
    assert sum(p.numel() for p in model.parameters()) == count
    assert round(count / 1e6, 1) == 3.3  # DML Table 1: MobileNet, 3.3 M parameters
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 32, 32))
    assert [tuple(f.shape[1:]) for f in out.features][-3:] == [(512, 4, 4), (1024, 2, 2), (1024,)]
