//! Matter-code suggestions per second: the lexicon alone, and the lexicon
//! blended with a learner trained on 5,000 cases.

use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::Catalogue;
use chengyun_services::classify::Classifier;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const TEXTS: &[&str] = &[
    "小区门口井盖没了，很危险",
    "这条路上的路灯晚上都不亮，黑漆漆的",
    "有人占道摆摊，卖水果的三轮车把路堵了",
    "垃圾桶满了没人清运，臭死了",
    "楼下饭店油烟太大，熏得家里没法开窗",
    "广场舞音响太吵，晚上十点还在跳",
    "人行道上乱停车，行人只能走机动车道",
    "渣土车沿路撒漏，满地都是泥",
];

fn bench(c: &mut Criterion) {
    let cat = Catalogue::national();
    let plain = Classifier::new(&cat);
    let mut trained = Classifier::new(&cat);
    let codes = [
        "01037", "09006", "06042", "06027", "06028", "09009", "06014", "01002",
    ];
    for i in 0..5_000 {
        let text = TEXTS[i % TEXTS.len()];
        let code = ClassCode::parse(codes[i % codes.len()]).expect("valid code");
        trained.learn(text, &code).expect("code in the catalogue");
    }
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(TEXTS.len() as u64));
    group.bench_function("lexicon", |b| {
        b.iter(|| {
            for t in TEXTS {
                black_box(plain.suggest(black_box(t), 5));
            }
        })
    });
    group.bench_function("lexicon+learnt_5000", |b| {
        b.iter(|| {
            for t in TEXTS {
                black_box(trained.suggest(black_box(t), 5));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
