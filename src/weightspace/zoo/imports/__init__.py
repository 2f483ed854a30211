"""Import existing zoos (Model Zoos, Small CNN Zoo, folders of checkpoints), attach a task or a
network to an imported zoo, and export our zoos in the layouts other tools read."""

from weightspace._lazy import lazy_names

# loaded on first use: `zoo import --help` reads ImportOptions and the layouts without torch
_EXPORTS = {
    "attach": "attaching",  # a module named like the function would shadow it
    "ImportOptions": "options",
    "EXPORT_FORMATS": "options",
    "export_zoo": "export",
    "load_state_dict": "load",
    "FORMATS": "options",
    "import_modules": "sources",
    "import_zoo": "sources",
    "Checkpoint": "writer",
    "write_zoo": "writer",
}
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)


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
