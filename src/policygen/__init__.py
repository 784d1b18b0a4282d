"""policygen: least-privilege IAM policies from CloudTrail logs, as IAM Access Analyzer writes them.

The public API is small:

>>> from policygen import generate_policy
>>> result = generate_policy("arn:aws:iam::111122223333:role/app", "logs/", start="2026-01-01")
>>> result.policies(placeholders=True)          # AWS-format policy documents
>>> result.to_api()                             # GetGeneratedPolicy's generatedPolicyResult
"""

from policygen.core.arns import Principal
from policygen.iam.analysis import Analysis, AnalysisOptions, analyse
from policygen.pipeline import GenerationResult, generate_policy
from policygen.policy.render import RenderOptions, render_policies
from policygen.scan.usage import Usage
from policygen.sources.base import Selection, TrailSource
from policygen.sources.local import LocalFolder

__all__ = [
    "Analysis",
    "AnalysisOptions",
    "GenerationResult",
    "LocalFolder",
    "Principal",
    "RenderOptions",
    "Selection",
    "TrailSource",
    "Usage",
    "analyse",
    "generate_policy",
    "render_policies",
]
