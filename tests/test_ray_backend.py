import json

import pytest
from conftest import tiny_config

from weightspace.zoo import create_zoo

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'weightspace[ray]'")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_backend_gives_the_same_zoo(local_ray, tmp_path):
    config = tiny_config()
    create_zoo(config, tmp_path / "local", progress=False)
    create_zoo(config, tmp_path / "ray", backend="ray", progress=False)
    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("local", "ray")]
    assert manifests[0]["shards"] == manifests[1]["shards"]
    assert manifests[0]["table"] == manifests[1]["table"]


def test_ray_backend_gives_the_same_grid_dataset(local_ray, tmp_path):
    from test_powergrid_data import TINY

    from weightspace.powergrid import generate_dataset

    local = generate_dataset(TINY, tmp_path / "local", progress=False)
    remote = generate_dataset(TINY, tmp_path / "ray", backend="ray", progress=False)
    assert [s["sha256"] for s in local.manifest["shards"]] == [
        s["sha256"] for s in remote.manifest["shards"]
    ]
    assert len(remote.manifest["shards"]) == 2
