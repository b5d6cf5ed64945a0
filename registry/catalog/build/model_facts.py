"""The sourced model table: each model's provider, openness, restrictions and deployments."""

from __future__ import annotations

from dataclasses import dataclass

from registry.catalog.build.common import C, S, U
from registry.model import (
    Confidence,
    Weights,
)

ZHIPU_REF = (
    "domain.md 1.4 [C]: Zhipu AI (Beijing Zhipu Huazhang Technology) and its affiliates were added to the "
    "Entity List on Jan 15, 2025, the first Chinese LLM developer listed (TechCentral/Bloomberg, TechDogs, "
    "AIBase; techcentral.co.za/257720; techdogs.com; aibase.com/news/14749)"
)
ANTHROPIC_TOS_REF = (
    "domain.md 1.5 [C]: Anthropic terms of service, Sept 5, 2025: services are barred to entities "
    "more than 50% owned, directly or indirectly, by companies headquartered in unsupported regions "
    "such as China, wherever those entities operate. China, Russia, North Korea and Iran were "
    "already unsupported (AFP via TRT and Deccan Chronicle, Notebookcheck)"
)
IIL_REF = (
    "domain.md 1.7 [C] (Mayer Brown; Bristows): June 12, 2026 Secretary Lutnick signed an Is-Informed Letter "
    "under ECRA. A licence is now required to export, reexport or transfer in-country Mythos and Fable to "
    "any foreign person worldwide, including Anthropic's own foreign-national employees in the US. "
    "(Not recorded as lifted: a ~Jun 30 report (imtr.net citing POLITICO) that restrictions were lifted on "
    "both, subject to a security agreement, is [U] and contradicts reports that Fable 5 stayed offline.)"
)
EXEMPT_REF = (
    "domain.md 1.7 [C] (Mayer Brown): June 26, 2026 a second Lutnick letter exempted 'certain trusted "
    "partners' and their foreign-national employees, plus Anthropic's own foreign employees, for Mythos 5. "
    "The '~100 US firms and agencies' figure is [S]. The partners are not named."
)
FOUNDRY_REF = (
    "platform.claude.com claude-in-microsoft-foundry (domain.md 2.3 [C]; models.csv): Claude in Foundry is "
    "offered only as Global Standard and US Data Zone Standard"
)
NOVA_REF = (
    "docs.aws.amazon.com models-supported (models.csv Amazon row, high): "
    "Bedrock incl. us-gov-west-1 for Nova Lite/Micro"
)
JAMBA_REF = (
    "docs.aws.amazon.com models-supported (models.csv AI21 row, high for Bedrock IDs): "
    "ai21.jamba-1-5-large-v1:0, ai21.jamba-1-5-mini-v1:0 (us-east-1)"
)
FOUNDRY = (("azure-global:standard", None, FOUNDRY_REF), ("azure-datazone:us", None, FOUNDRY_REF))


@dataclass(frozen=True)
class M:
    """One model the research names: ``mention`` is the research's own words for it."""

    id: str
    name: str
    provider: str  # models.csv provider column
    version: str | None
    weights: Weights
    confidence: Confidence
    mention: str
    deployments: tuple[tuple[str, str | None, str], ...] = ()
    letter: bool = False  # June 12, 2026 is-informed letter
    exempt: bool = False  # June 26, 2026 trusted-partner exemption


OPEN, CLOSED = Weights.OPEN, Weights.CLOSED
MODELS = (
    M(
        "anthropic.claude-opus-4-7",
        "Claude Opus 4.7",
        "Anthropic",
        "4.7",
        CLOSED,
        C,
        "anthropic.claude-opus-4-7 (Bedrock quickstart)",
    ),
    M(
        "anthropic.claude-opus-4-8",
        "Claude Opus 4.8",
        "Anthropic",
        "4.8",
        CLOSED,
        S,
        "Opus 4.8 (Claude-in-Foundry doc)",
        FOUNDRY,
    ),
    M(
        "anthropic.claude-opus-5",
        "Claude Opus 5",
        "Anthropic",
        "5",
        CLOSED,
        S,
        "Opus 5 (Claude-in-Foundry doc)",
        FOUNDRY,
    ),
    M(
        "anthropic.claude-opus-5-5",
        "Claude Opus 5.5",
        "Anthropic",
        "5.5",
        CLOSED,
        S,
        "Opus 5.5 (Claude-in-Foundry doc)",
        FOUNDRY,
    ),
    M(
        "anthropic.claude-sonnet-5",
        "Claude Sonnet 5",
        "Anthropic",
        "5",
        CLOSED,
        S,
        "Sonnet 5 (Claude-in-Foundry doc)",
        FOUNDRY,
    ),
    M(
        "anthropic.claude-fable-5-1",
        "Claude Fable 5.1",
        "Anthropic",
        "5.1",
        CLOSED,
        S,
        "Claude Fable 5.1 (Claude-in-Foundry doc)",
        FOUNDRY,
    ),
    M(
        "anthropic.claude-fable-5",
        "Claude Fable 5",
        "Anthropic",
        "5",
        CLOSED,
        C,
        "Fable 5 (June 2026 export-control action; released to the general public ~Jun 9, 2026 [S])",
        letter=True,
    ),
    M(
        "anthropic.claude-mythos-5",
        "Claude Mythos 5",
        "Anthropic",
        "5",
        CLOSED,
        C,
        "Mythos 5 (June 2026 export-control action)",
        letter=True,
        exempt=True,
    ),
    M("openai.gpt-5.5", "GPT-5.5", "OpenAI", "5.5", CLOSED, C, "GPT-5.5 (launched Apr 23 2026)"),
    M(
        "openai.gpt-5.5-cyber-preview",
        "GPT-5.5 Cyber Preview",
        "OpenAI",
        "5.5",
        CLOSED,
        S,
        "gpt-5.5-cyber-preview (Trusted Access for Cyber)",
    ),
    M(
        "openai.gpt-5.6",
        "GPT-5.6",
        "OpenAI",
        "5.6",
        CLOSED,
        U,
        "GPT-5.6 (reported limited preview Jun 2026): reportedly released first only to government-vetted trusted "
        "partners at US government request (UNCONFIRMED: eyeon.ai, aigovernance.com only)",
    ),
    M("openai.gpt-oss-120b", "gpt-oss-120b", "OpenAI", None, OPEN, C, "openai.gpt-oss-120b (Bedrock); open weights"),
    M(
        "google.gemini-3.1-pro",
        "Gemini 3.1 Pro (Preview)",
        "Google",
        "3.1",
        CLOSED,
        C,
        "Gemini 3.1 Pro (Preview) (Vertex docs)",
    ),
    M(
        "google.gemini-3-pro",
        "Gemini 3 Pro (Preview)",
        "Google",
        "3",
        CLOSED,
        C,
        "Gemini 3 Pro (Preview) (Vertex docs)",
    ),
    M(
        "google.gemini-3-flash",
        "Gemini 3 Flash (Preview)",
        "Google",
        "3",
        CLOSED,
        C,
        "Gemini 3 Flash (Preview) (Vertex docs)",
    ),
    M("google.gemini-2.5-pro", "Gemini 2.5 Pro", "Google", "2.5", CLOSED, C, "Gemini 2.5 Pro (Vertex docs)"),
    M("google.gemini-2.5-flash", "Gemini 2.5 Flash", "Google", "2.5", CLOSED, C, "Gemini 2.5 Flash (Vertex docs)"),
    M(
        "google.gemini-2.5-flash-lite",
        "Gemini 2.5 Flash-Lite",
        "Google",
        "2.5",
        CLOSED,
        C,
        "Gemini 2.5 Flash-Lite (Vertex docs)",
    ),
    M(
        "google.gemma-3-27b",
        "Gemma 3 27B",
        "Google",
        "3",
        OPEN,
        S,
        "Gemma 3 27B (seen in a Bedrock model enum, secondary)",
    ),
    M(
        "google.gemma-3-4b",
        "Gemma 3 4B",
        "Google",
        "3",
        OPEN,
        S,
        "Gemma 3 4B (seen in a Bedrock model enum, secondary)",
    ),
    M(
        "meta.llama-3.3-70b-instruct",
        "Llama 3.3 70B Instruct",
        "Meta",
        "3.3",
        OPEN,
        C,
        "meta/llama-3.3-70b-instruct-maas (Vertex MaaS example)",
    ),
    M(
        "meta.llama-3.1-70b-instruct",
        "Llama 3.1 70B Instruct",
        "Meta",
        "3.1",
        OPEN,
        C,
        "meta.llama3-1-70b-instruct-v1:0 (Bedrock example)",
    ),
    M(
        "mistral.mistral-large-2407",
        "Mistral Large (2407)",
        "Mistral AI",
        "2407",
        CLOSED,
        U,
        "mistral.mistral-large-2407-v1:0 (Bedrock example). Weights: the research says only that Mistral is 'mixed' "
        "(general knowledge) and not which applies to this model; recorded as closed, the conservative value "
        "for export-control checks (UNCONFIRMED)",
    ),
    M("deepseek.deepseek-v3.2", "DeepSeek V3.2", "DeepSeek", "3.2", OPEN, C, "DeepSeek V3.2 (Bedrock model cards)"),
    M("deepseek.deepseek-v3.1", "DeepSeek-V3.1", "DeepSeek", "3.1", OPEN, C, "DeepSeek-V3.1 (Bedrock model cards)"),
    M(
        "deepseek.deepseek-r1",
        "DeepSeek-R1",
        "DeepSeek",
        "R1",
        OPEN,
        C,
        "DeepSeek-R1 (Bedrock model cards; Microsoft Foundry)",
    ),
    M(
        "deepseek.deepseek-r1-0528",
        "DeepSeek-R1-0528",
        "DeepSeek",
        "R1-0528",
        OPEN,
        C,
        "DeepSeek-R1-0528 (Microsoft Foundry)",
    ),
    M(
        "qwen.qwen3-235b-a22b-2507",
        "Qwen3 235B A22B (2507)",
        "Alibaba (Qwen)",
        "3",
        OPEN,
        S,
        "qwen.qwen3-235b-a22b-2507-v1:0 (Bedrock ID)",
    ),
    M(
        "qwen.qwen3-coder-480b-a35b",
        "Qwen3 Coder 480B A35B",
        "Alibaba (Qwen)",
        "3",
        OPEN,
        S,
        "qwen.qwen3-coder-480b-a35b-v1:0 (Bedrock ID)",
    ),
    M("qwen.qwen3-32b", "Qwen3 32B", "Alibaba (Qwen)", "3", OPEN, S, "qwen.qwen3-32b-v1:0 (Bedrock ID)"),
    M(
        "qwen.qwen3-next-80b-a3b",
        "Qwen3 Next 80B A3B",
        "Alibaba (Qwen)",
        "3",
        OPEN,
        S,
        "qwen.qwen3-next-80b-a3b (Bedrock ID)",
    ),
    M(
        "qwen.qwen3-coder-next",
        "Qwen3 Coder Next",
        "Alibaba (Qwen)",
        "3",
        OPEN,
        S,
        "qwen.qwen3-coder-next (Bedrock ID)",
    ),
    M(
        "moonshot.kimi-k2-thinking",
        "Kimi K2 Thinking",
        "Moonshot AI",
        "K2",
        OPEN,
        C,
        "moonshot.kimi-k2-thinking (Bedrock)",
    ),
    M("zai.glm-4.7", "GLM 4.7", "Zhipu AI / Z.ai", "4.7", OPEN, C, "GLM 4.7 (zai.glm-4.7)"),
    M("zai.glm-4.7-flash", "GLM 4.7 Flash", "Zhipu AI / Z.ai", "4.7", OPEN, C, "GLM 4.7 Flash (zai.glm-4.7-flash)"),
    M("zai.glm-5", "GLM 5", "Zhipu AI / Z.ai", "5", OPEN, C, "GLM 5 (zai.glm-5; 744B total / 40B active)"),
    M("minimax.minimax-m2", "MiniMax M2", "MiniMax", "M2", OPEN, S, "minimax.minimax-m2 (230B MoE, 10B active)"),
    M("minimax.minimax-m2.5", "MiniMax M2.5", "MiniMax", "M2.5", OPEN, S, "minimax.minimax-m2.5"),
    M(
        "amazon.nova-lite",
        "Amazon Nova Lite",
        "Amazon",
        "1",
        CLOSED,
        C,
        "amazon.nova-lite-v1:0",
        (("aws:us-gov-west-1", "amazon.nova-lite-v1:0", NOVA_REF),),
    ),
    M(
        "amazon.nova-micro",
        "Amazon Nova Micro",
        "Amazon",
        "1",
        CLOSED,
        C,
        "amazon.nova-micro-v1:0",
        (("aws:us-gov-west-1", "amazon.nova-micro-v1:0", NOVA_REF),),
    ),
    M("amazon.nova-canvas", "Amazon Nova Canvas", "Amazon", "1", CLOSED, C, "amazon.nova-canvas-v1:0"),
    M(
        "ai21.jamba-1-5-large",
        "Jamba 1.5 Large",
        "AI21 Labs",
        "1.5",
        OPEN,
        S,
        "ai21.jamba-1-5-large-v1:0 (us-east-1)",
        (("aws:us-east-1", "ai21.jamba-1-5-large-v1:0", JAMBA_REF),),
    ),
    M(
        "ai21.jamba-1-5-mini",
        "Jamba 1.5 Mini",
        "AI21 Labs",
        "1.5",
        OPEN,
        S,
        "ai21.jamba-1-5-mini-v1:0 (us-east-1)",
        (("aws:us-east-1", "ai21.jamba-1-5-mini-v1:0", JAMBA_REF),),
    ),
)
