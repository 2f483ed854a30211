"""The names a zoo config is checked against: architectures, activations, initializations,
optimizers, datasets and the park-cnn knobs.

Standard library only, so the config classes (`weightspace.zoo.config`) and the command line
(``weightspace zoo create --help``) read them without importing torch or numpy. The modules
that implement each name import the list from here; where they keep a registry of their own
(`weightspace.zoo.architectures.ARCHITECTURES`, `weightspace.zoo.layers.ACTIVATIONS`,
`weightspace.zoo.datasets.LOADERS`) a test keeps its keys equal to the names here.
"""

from __future__ import annotations

# the networks of `weightspace.zoo.architectures.ARCHITECTURES`, in its order
ARCHITECTURE_NAMES = (
    "cnn-s",
    "cnn-l",
    "cnn-w",
    "smallcnn",
    "resnet18",
    "mlp",
    "park-cnn",
    "tetris-mlp",
)
# the activations of `weightspace.zoo.layers.ACTIVATIONS`, in its order
ACTIVATION_NAMES = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "silu")
INITS = ("default", "uniform", "normal", "kaiming_uniform", "kaiming_normal")
OPTIMIZERS = ("adam", "sgd")

# the knobs of the "park-cnn" family (`weightspace.zoo.architectures.ParkCNN`)
PARK_DEFAULTS = {"kernel": 3, "residual": False, "pool": "gap"}
PARK_POOLS = ("gap", "max")
PARK_STAGES = (2, 5)  # conv stages of the CNN Wild Park (Kofinas et al. 2024)
PARK_WIDTHS = (16, 16, 16)  # park-cnn stage widths when ``hidden`` is empty

# the datasets read from local files (`weightspace.zoo.dataset_files`): name -> the files
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
FILE_DATASETS = {
    "mnist": ", ".join(IDX_FILES.values()) + " (optionally .gz)",
    "fashion-mnist": ", ".join(IDX_FILES.values()) + " (optionally .gz)",
    "cifar10": "data_batch_1.bin ... data_batch_5.bin and test_batch.bin",
    "svhn": "train_32x32.mat and test_32x32.mat",
}
# the user's own data: kind -> what ``root`` holds
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")  # optional: x_val, y_val
USER_DATASETS = {
    "npz": "one .npz file with " + ", ".join(NPZ_KEYS) + " (and optionally x_val, y_val)",
    "imagefolder": "a folder of class folders of images (<class>/<image>), or train/ and test/ "
    "(and optionally val/) folders each holding such class folders",
}
# every dataset of `weightspace.zoo.datasets.LOADERS`, in its order: the embedded ones first
DATASET_NAMES = ("digits", "tetris", "mnist5k", *FILE_DATASETS, *USER_DATASETS)
