"""Import existing zoos (modelzoos.cc, Small CNN Zoo, folders, modules) into our format."""

from weightspace.zoo.imports.load import load_state_dict
from weightspace.zoo.imports.sources import FORMATS, import_modules, import_zoo
from weightspace.zoo.imports.writer import Checkpoint, write_zoo

__all__ = ["FORMATS", "Checkpoint", "import_modules", "import_zoo", "load_state_dict", "write_zoo"]
