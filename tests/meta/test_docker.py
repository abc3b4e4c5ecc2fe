"""The Docker image and the compose cluster are described consistently."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def compose() -> dict:
    document: dict = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return document


def test_the_compose_file_runs_experiment_one_on_a_master_and_two_workers() -> None:
    services = compose()["services"]
    assert set(services) == {"master", "worker-1", "worker-2", "submit"}
    assert "org.apache.spark.deploy.master.Master" in services["master"]["command"]
    for worker in ("worker-1", "worker-2"):
        command = services[worker]["command"]
        assert "org.apache.spark.deploy.worker.Worker" in command
        assert "spark://master:7077" in command and services[worker]["depends_on"] == ["master"]
    submit = services["submit"]["command"]
    assert submit[:3] == ["spark-submit", "--master", "spark://master:7077"]
    assert "examples/titanic_features.py" in submit
    # executors reach the driver's RPC server by the submit container's name
    assert "spark.driver.host=submit" in submit and services["submit"]["hostname"] == "submit"
    assert (DOCKER.parent / "examples" / "titanic_features.py").exists()
    for service in services.values():
        assert service["build"]["dockerfile"] == "docker/Dockerfile"


def test_the_image_installs_the_package_with_the_pinned_versions() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "openjdk-17-jre-headless" in dockerfile and "python:3.11" in dockerfile
    assert 'pip install --no-cache-dir -c constraints.txt ".[examples]"' in dockerfile


def _docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return [docker, "compose"] if probe.returncode == 0 else None


@pytest.mark.skipif(_docker_compose() is None, reason="this machine's docker has no compose")
def test_docker_compose_validates_the_file_without_an_engine() -> None:
    command = _docker_compose()
    assert command is not None
    subprocess.run([*command, "-f", str(DOCKER / "compose.yaml"), "config", "--quiet"], check=True)
