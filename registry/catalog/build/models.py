"""Providers and models from models.csv and the sourced model table."""

from __future__ import annotations

from datetime import date

from registry.catalog.build.common import C, S, src
from registry.catalog.build.model_facts import ANTHROPIC_TOS_REF, EXEMPT_REF, IIL_REF, MODELS, ZHIPU_REF
from registry.model import (
    CustomerRestriction,
    Deployment,
    ExportRestriction,
    Model,
    Provider,
    SourcedFlag,
)

# models.csv provider -> (id, confidence of the HQ fact). models.csv says "high for HQ" for Anthropic and
# OpenAI; other rows give one overall high/medium, and HQ cities from general knowledge stay in the ref.
PROVIDERS = {
    "Anthropic": ("anthropic", C),
    "OpenAI": ("openai", C),
    "Google": ("google", C),
    "Meta": ("meta", C),
    "Mistral AI": ("mistral", S),
    "DeepSeek": ("deepseek", C),
    "Alibaba (Qwen)": ("alibaba", S),
    "Moonshot AI": ("moonshot", C),
    "Zhipu AI / Z.ai": ("zhipu", C),
    "MiniMax": ("minimax", S),
    "xAI": ("xai", S),
    "Microsoft": ("microsoft", S),
    "Amazon": ("amazon", C),
    "Cohere": ("cohere", S),
    "AI21 Labs": ("ai21", S),
}


def build_providers(rows: list[dict[str, str]]) -> list[Provider]:
    out = []
    for row in rows:
        pid, conf = PROVIDERS[row["provider"]]
        ref = (
            f"models.csv {row['provider']} row: HQ {row['hq_city']}, {row['hq_country']}; "
            f"sources: {row['sources']}; "
            f"research confidence: {row['confidence']}. Ultimate parent country not researched: recorded as the "
            "HQ country."
        )
        extra: dict[str, object] = {}
        if pid == "zhipu":
            extra = {
                "entity_list": SourcedFlag(value=True, source=src(ZHIPU_REF, C, date(2025, 1, 15))),
                "entity_list_since": date(2025, 1, 15),
            }
        if pid == "anthropic":
            extra = {
                "customer_restrictions": (
                    CustomerRestriction(
                        countries=("CN", "RU", "KP", "IR"),
                        min_ownership_share=0.5,
                        since=date(2025, 9, 5),
                        source=src(ANTHROPIC_TOS_REF, C, date(2025, 9, 5)),
                    ),
                )
            }
        out.append(
            Provider.model_validate(
                {
                    "id": pid,
                    "name": row["provider"],
                    "hq_country": row["hq_country"],
                    "ultimate_parent_country": row["hq_country"],
                    "hq_source": src(ref, conf),
                    **extra,
                }
            )
        )
    return out


# Short family names; the models.csv family cell lists several families per provider.
FAMILIES = {
    "anthropic.claude": "Claude",
    "openai.gpt-oss": "gpt-oss",
    "openai.gpt": "GPT",
    "google.gemini": "Gemini",
    "google.gemma": "Gemma",
    "meta.llama": "Llama",
    "mistral.": "Mistral",
    "deepseek.": "DeepSeek",
    "qwen.": "Qwen3",
    "moonshot.": "Kimi K2",
    "zai.": "GLM",
    "minimax.": "MiniMax",
    "amazon.nova": "Nova",
    "ai21.": "Jamba",
}


def build_models(rows: list[dict[str, str]]) -> list[Model]:
    by_provider = {r["provider"]: r for r in rows}
    out = []
    for m in MODELS:
        row = by_provider[m.provider]
        restrictions: tuple[ExportRestriction, ...] = ()
        if m.letter:
            restrictions = (
                ExportRestriction(
                    id="doc-iil-2026-06-12",
                    issued=date(2026, 6, 12),
                    source=src(IIL_REF, C, date(2026, 6, 12)),
                    trusted_partner_exempt_since=date(2026, 6, 26) if m.exempt else None,
                    exemption_source=src(EXEMPT_REF, C, date(2026, 6, 26)) if m.exempt else None,
                ),
            )
        ref = (
            f"models.csv {m.provider} row: {m.mention}; weights: {row['weights']}; platforms: "
            f"{row['platforms_seen']}; sources: {row['sources']}; research confidence: {row['confidence']}"
        )
        out.append(
            Model(
                id=m.id,
                name=m.name,
                provider=PROVIDERS[m.provider][0],
                family=next(f for prefix, f in FAMILIES.items() if m.id.startswith(prefix)),
                version=m.version,
                weights=m.weights,
                export_restrictions=restrictions,
                source=src(ref, m.confidence),
                deployments=tuple(
                    Deployment(target=t, platform_model_id=pmid, source=src(r, C)) for t, pmid, r in m.deployments
                ),
            )
        )
    return out
