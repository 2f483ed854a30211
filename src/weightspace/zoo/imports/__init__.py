"""Import existing zoos (Model Zoos, Small CNN Zoo, folders of checkpoints), attach a task or a
network to an imported zoo, and export our zoos in the layouts other tools read."""

from weightspace.zoo.imports.attach import attach
from weightspace.zoo.imports.common import ImportOptions
from weightspace.zoo.imports.export import EXPORT_FORMATS, export_zoo
from weightspace.zoo.imports.load import load_state_dict
from weightspace.zoo.imports.sources import FORMATS, import_modules, import_zoo
from weightspace.zoo.imports.writer import Checkpoint, write_zoo

__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "Checkpoint",
    "ImportOptions",
    "attach",
    "export_zoo",
    "import_modules",
    "import_zoo",
    "load_state_dict",
    "write_zoo",
]
