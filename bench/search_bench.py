"""Full-text search benchmark (issue 15). Prints figures; asserts nothing.

Indexes N synthetic documents (default 100,000; half Arabic, half English, words drawn with a
Zipf-like skew from real vocabularies, plus two made-up names each; Arabic written with the
spelling variants people use: hamza forms, taa marbuta as haa, some harakat) into a fresh
catalog on SQLite (FTS5) and on PostgreSQL (tsvector + GIN, a throwaway server from
tests/pgserver.py), then times `SearchIndex.search` (a page of 20 with its total and
snippets, as `isnad search` and the web app ask for it) for several kinds of query: p50 and
p99 per kind.

Usage: ``python bench/search_bench.py [--docs 100000] [--runs 60] [--only sqlite|postgresql]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archiver.catalog import Catalog  # noqa: E402 - after the path
from archiver.schema import upgrade  # noqa: E402
from archiver.search import SearchDocument, SearchIndex  # noqa: E402

ARABIC = """
قصف غارة جوية مستشفى مدرسة مسجد سوق حي مدينة قرية شارع منزل بيت عائلة أطفال نساء رجال
شهداء جرحى مصابين إسعاف طواقم الدفاع المدني الأنقاض ركام انفجار صاروخ طائرة مسيرة دبابة
قوات الجيش الاحتلال النظام المعارضة فصائل مسلحين اشتباكات معارك هجوم حصار نزوح نازحين
مخيم لاجئين خيام مساعدات إنسانية غذاء ماء كهرباء وقود دواء أدوية مستلزمات طبية منظمة
الأمم المتحدة الصليب الأحمر تقرير توثيق شهادة شاهد عيان مقطع فيديو صورة صور منشور قناة
حساب صفحة موقع رابط أرشيف أدلة الأدلة دليل انتهاكات جرائم حرب القانون الدولي محكمة تحقيق
لجنة مراقبين صحفيين صحفي مراسل إعلام أخبار عاجل بيان مصدر مصادر محلية رسمية وزارة الصحة
عدد حصيلة ارتفاع ضحايا مجزرة مقبرة جماعية دفن جثث مفقودين معتقلين سجن اعتقال تعذيب
إعدام ميداني اختفاء قسري حلب إدلب دمشق حمص درعا غزة رفح خانيونس جباليا بيت لاهيا
الخرطوم الفاشر دارفور الجنينة مأرب تعز صنعاء الحديدة بغداد الموصل الفلوجة طرابلس بنغازي
صباح مساء ليلة فجر اليوم أمس الأسبوع الماضي الشهر ساعات دقائق بعد قبل خلال منذ حتى
مسؤول رئيس مستشفى مستوصف مبنى طابق سيارة شاحنة قافلة معبر حدود طريق جسر محطة مطار ميناء
"""
ENGLISH = """
airstrike shelling hospital school mosque market neighbourhood city village street house
family children women men killed wounded injured ambulance civil defence rubble explosion
missile drone tank forces army regime opposition armed groups clashes fighting attack siege
displacement displaced camp refugees tents humanitarian aid food water electricity fuel
medicine medical supplies organisation united nations red cross report documentation
testimony witness video footage photo photos post channel account page website link archive
evidence violations war crimes international law court investigation commission observers
journalists journalist correspondent media news breaking statement source sources local
official ministry health toll rising victims massacre mass grave burial bodies missing
detainees prison detention torture execution enforced disappearance aleppo idlib damascus
homs daraa gaza rafah khan younis jabalia khartoum el fasher darfur geneina marib taiz sanaa
hodeidah baghdad mosul fallujah tripoli benghazi morning evening night dawn today yesterday
week last month hours minutes after before during since until official building floor car
truck convoy crossing border road bridge station airport port satellite imagery geolocation
"""
# Spellings people write for the same Arabic word (the index must join them).
VARIANTS = {"الأدلة": ["الادلة", "الأدله", "الادله"], "أرشيف": ["ارشيف", "أرشـيف"],
            "مستشفى": ["مستشفي", "مُستشفى"], "إسعاف": ["اسعاف"], "مسؤول": ["مسئول"]}
QUERIES = {
    "one common word": ["قصف", "hospital", "غزة", "video", "شهداء", "army"],
    "one less common word": ["geolocation", "imagery", "الجنينة", "hodeidah", "مستوصف", "benghazi"],
    "two words": ["قصف مستشفى", "mass grave", "شاهد عيان", "war crimes", "مقبرة جماعية"],
    "phrase": ['"civil defence"', '"الدفاع المدني"', '"mass grave"', '"شاهد عيان"'],
    "prefix": ["hosp*", "مست*", "journal*", "تعذ*"],
    "other spelling": ["الادله", "ارشيف", "مستشفي", "اسعاف", "مسئول", "الأَدِلَّة"],
    "word + case filter": ["قصف", "hospital"],
}


def _words(vocabulary: str) -> tuple[list[str], list[float]]:
    found = list(dict.fromkeys(vocabulary.split()))
    random.Random(7).shuffle(found)
    return found, [1 / (rank + 1) ** 0.9 for rank in range(len(found))]


def _spell(word: str, rng: random.Random) -> str:
    if word in VARIANTS and rng.random() < 0.5:
        return rng.choice(VARIANTS[word])
    return word


def _rare(letters: str, count: int, seed: int) -> list[str]:
    """Made-up names (people, villages, units): the rare words real text is full of."""
    rng = random.Random(seed)
    return list(dict.fromkeys("".join(rng.choices(letters, k=rng.randint(5, 8)))
                              for _ in range(count)))


RARE_ARABIC = _rare("ابتثجحخدذرزسشصضطظعغفقكلمنهوي", 3000, 1)
RARE_ENGLISH = _rare("abcdefghijklmnopqrstuvwxyz", 3000, 2)
QUERIES["one rare word"] = [*RARE_ARABIC[:20:2], *RARE_ENGLISH[1:20:2]]


def documents(count: int, offset: int = 0) -> list[SearchDocument]:
    """``count`` synthetic captures: half Arabic, half English, realistic lengths; each with
    two rare words (names) among its common ones. ``offset``: the number of the first one
    (another batch of the same kind, for a caller filling a catalog a batch at a time)."""
    rng = random.Random(15 + offset)
    arabic, arabic_weights = _words(ARABIC)
    english, english_weights = _words(ENGLISH)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for n in range(offset, offset + count):
        words, weights = (arabic, arabic_weights) if n % 2 else (english, english_weights)

        def text(length: int, words: list[str] = words, weights: list[float] = weights) -> str:
            return " ".join(_spell(w, rng) for w in rng.choices(words, weights, k=length))
        post = text(rng.randint(20, 60)) if n % 5 == 0 else ""
        out.append(SearchDocument(
            kind="capture", ref_id=f"{n:036d}", url=f"https://example.org/post/{n}",
            title=text(6), titles=text(6),
            page_text=text(rng.randint(80, 250)) + " " + " ".join(
                rng.sample(RARE_ARABIC if n % 2 else RARE_ENGLISH, 2)),
            post_text=post, notes=text(8) if n % 10 == 0 else "", state="COMPLETE",
            case_id=f"case-{n % 50}", tags=[f"tag-{n % 7}"],
            platform="telegram" if post else None, source="capture",
            captured_at=start + timedelta(minutes=n)))
    return out


def fill(index: SearchIndex, docs: list[SearchDocument], batch: int = 2000) -> float:
    began = time.perf_counter()
    for i in range(0, len(docs), batch):
        index.put_many(docs[i:i + batch])
    return time.perf_counter() - began


def measure(index: SearchIndex, runs: int) -> dict[str, tuple[float, float, int]]:
    """Per kind of query: p50 and p99 in ms, and the median number of matches."""
    from archiver.search import SearchFilters

    results = {}
    for kind, queries in QUERIES.items():
        timings, totals = [], []
        filters = SearchFilters(case="case-7") if "filter" in kind else None
        for run in range(runs):
            query = queries[run % len(queries)]
            began = time.perf_counter()
            _, total = index.search(query, filters, limit=20)
            timings.append((time.perf_counter() - began) * 1000)
            totals.append(total)
        timings.sort()
        results[kind] = (statistics.median(timings),
                         timings[min(len(timings) - 1, int(len(timings) * 0.99))],
                         int(statistics.median(totals)))
    return results


def report(name: str, seconds: float, count: int,
           results: dict[str, tuple[float, float, int]]) -> None:
    print(f"\n{name}: indexed {count:,} documents in {seconds:.0f} s "
          f"({count / seconds:,.0f} docs/s)")
    print(f"  {'query':22} {'p50 ms':>8} {'p99 ms':>8} {'matches':>9}")
    for kind, (p50, p99, total) in results.items():
        print(f"  {kind:22} {p50:8.1f} {p99:8.1f} {total:9,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    docs = documents(args.docs)
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory(prefix="isnad-search-bench-") as tmp:
            catalog = Catalog(f"sqlite:///{Path(tmp) / 'catalog.db'}", upgrade=True)
            index = SearchIndex(catalog.engine)
            seconds = fill(index, docs)
            report("SQLite (FTS5)", seconds, len(docs), measure(index, args.runs))
            catalog.engine.dispose()
    if args.only in (None, "postgresql"):
        from tests.pgserver import PostgresServer, find_bin_dir

        bin_dir = find_bin_dir()
        if bin_dir is None:
            print("\nPostgreSQL: not installed, skipped")
            return
        server = PostgresServer(bin_dir).start()
        try:
            url = server.new_database()
            import sqlalchemy

            upgrade(sqlalchemy.create_engine(url))
            catalog = Catalog(url)
            index = SearchIndex(catalog.engine)
            seconds = fill(index, docs)
            with catalog.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE search_documents")
            report("PostgreSQL (tsvector, GIN)", seconds, len(docs), measure(index, args.runs))
            catalog.engine.dispose()
        finally:
            server.destroy()


if __name__ == "__main__":
    main()
