"""New projects: ``ragwright init`` and the project ``ragwright demo`` runs in.

The files a project starts with ship as package data under ``template/``; prompt
manifests are written through the real prompt lifecycle, never copied.
"""

from ragwright.scaffold.demo import CANDIDATE_ALIAS, create_demo_project
from ragwright.scaffold.init import InitResult, init_project

__all__ = ["CANDIDATE_ALIAS", "InitResult", "create_demo_project", "init_project"]
