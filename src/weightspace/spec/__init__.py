"""The weight-space spec (foundation): tensor shapes, permutation groups, tracing, permutations.

Everything that needs the symmetries of a network (tokens, augmentation, alignment, weight
graphs) reads a `WeightSpec`; nothing here imports another weightspace package.
"""

from weightspace.spec.permute import canonical_order, permute, random_permutations
from weightspace.spec.sequential import spec_from_state_dict
from weightspace.spec.spec import LayerSpec, TensorSpec, WeightSpec, tensor_specs
from weightspace.spec.trace import spec_from_module

__all__ = [
    "LayerSpec",
    "TensorSpec",
    "WeightSpec",
    "canonical_order",
    "permute",
    "random_permutations",
    "spec_from_module",
    "spec_from_state_dict",
    "tensor_specs",
]
