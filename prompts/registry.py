"""Mirror the prompt store into MLflow's prompt registry, and rebuild a store from it.

Git stays the source of truth; MLflow is a read replica for services that have
no checkout. Each published version is registered once (found again by its
``ragwright.version`` tag), with the full version file as the template, so a
service can rebuild the exact store: front matter, variables, sandboxed render.
Aliases are mirrored as MLflow prompt aliases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragwright.errors import PromptError
from ragwright.experiments import use_tracking
from ragwright.prompts.files import MANIFEST, content_hash, write_manifest
from ragwright.prompts.model import Manifest, VersionRecord
from ragwright.prompts.store import PromptStore, version_number

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["RegistryMirror"]

VERSION_TAG = "ragwright.version"
HASH_TAG = "ragwright.hash"
EVAL_RUN_TAG = "ragwright.eval_run"


class RegistryMirror:
    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            from mlflow import MlflowClient

            use_tracking(self.tracking_uri)
            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client

    def _registered(self, name: str) -> dict[str, Any]:
        """Our version id -> MLflow prompt version, for versions already registered."""
        if self.client.get_prompt(name) is None:
            return {}
        found: dict[str, Any] = {}
        token = None
        while True:
            page = self.client.search_prompt_versions(name, max_results=100, page_token=token)
            for version in page:
                if VERSION_TAG in version.tags:
                    found[version.tags[VERSION_TAG]] = version
            token = getattr(page, "token", None)
            if not token:
                return found

    def sync(self, store: PromptStore, name: str) -> dict[str, int]:
        """Register missing published versions, then mirror aliases; returns alias -> version."""
        manifest = store.manifest(name)
        registered = self._registered(name)
        for version in sorted(manifest.versions, key=version_number):
            record = manifest.versions[version]
            existing = registered.get(version)
            if existing is not None:
                if existing.tags.get(HASH_TAG) != record.hash:
                    raise PromptError(
                        f"MLflow holds {name}@{version} with hash {existing.tags.get(HASH_TAG)},"
                        f" git has {record.hash}: published versions must never change"
                    )
                if record.eval_run and existing.tags.get(EVAL_RUN_TAG) != record.eval_run:
                    # evidence arrives after publishing: tags may change, templates never
                    self.client.set_prompt_version_tag(
                        name, existing.version, EVAL_RUN_TAG, record.eval_run
                    )
                continue
            text = (store.folder(name) / f"{version}.jinja2").read_text(encoding="utf-8")
            tags = {VERSION_TAG: version, HASH_TAG: record.hash}
            if record.eval_run:
                tags[EVAL_RUN_TAG] = record.eval_run
            registered[version] = self.client.register_prompt(
                name, template=text, commit_message=f"{name}@{version}", tags=tags
            )
        mirrored = {}
        for alias, version in manifest.aliases.items():
            number = int(registered[version].version)
            self.client.set_prompt_alias(name, alias, number)
            mirrored[alias] = number
        return mirrored

    def materialize(
        self, name: str, root: Path, aliases: tuple[str, ...] = ("production",)
    ) -> PromptStore:
        """Rebuild ``root/name`` from the registry: every registered version plus aliases."""
        registered = self._registered(name)
        if not registered:
            raise PromptError(
                f"prompt '{name}' is not in the MLflow registry at"
                f" {self.tracking_uri}; run `ragwright prompts sync`"
            )
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(name=name)
        for version, entry in registered.items():
            data = str(entry.template).encode("utf-8")
            if content_hash(data) != entry.tags.get(HASH_TAG):
                raise PromptError(f"registry copy of {name}@{version} does not match its hash")
            (folder / f"{version}.jinja2").write_bytes(data)
            manifest.versions[version] = VersionRecord(
                hash=entry.tags[HASH_TAG],
                published_at=datetime.now(UTC),
                eval_run=entry.tags.get(EVAL_RUN_TAG),
            )
        by_number = {int(e.version): v for v, e in registered.items()}
        for alias in aliases:
            target = self.client.get_prompt_version_by_alias(name, alias)
            manifest.aliases[alias] = by_number[int(target.version)]
        write_manifest(folder / MANIFEST, manifest)
        return PromptStore(root)
