//! Matter-code suggestions on realistic complaints, learning, and hostile input.

use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::Catalogue;
use chengyun_services::classify::{Classifier, Learner};

/// (complaint, acceptable codes, rank the first acceptable code must reach).
const TABLE: &[(&str, &[&str], usize)] = &[
    (
        "小区门口井盖没了，很危险",
        &["01001", "01002", "01003", "01004", "01005"],
        1,
    ),
    ("路灯不亮", &["01037"], 1),
    ("有人占道摆摊", &["09006"], 1),
    ("垃圾桶满了", &["06042", "03005"], 1),
    ("垃圾桶满了没人清运，臭死了", &["06042"], 1),
    ("这条路上的路灯晚上都不亮，黑漆漆的", &["01037"], 1),
    ("路口红绿灯坏了，一直闪黄灯", &["02014"], 1),
    ("楼下饭店油烟太大，熏得家里没法开窗", &["06027"], 1),
    ("广场舞音响太吵，晚上十点还在跳", &["06028"], 1),
    ("隔壁工地半夜施工，噪音扰民", &["08001", "06028"], 3),
    ("小区里有人私搭乱建，在楼顶加盖了一层", &["06001"], 1),
    ("违章建筑占了消防通道", &["06001", "09012"], 3),
    ("人行道上乱停车，行人只能走机动车道", &["09009"], 1),
    ("一辆僵尸车在路边停了半年，落满灰", &["06034"], 1),
    ("共享单车乱停，把盲道都堵了", &["09011", "06051"], 3),
    ("电动车乱停放在商场门口", &["09010"], 1),
    ("马路上有个大坑，车子开过去很危险", &["06013"], 1),
    ("下雨后路面积水严重，走不了路", &["01004"], 3),
    ("污水井盖破损，有臭味冒出来", &["01002"], 1),
    ("雨水箅子被偷了", &["01004"], 1),
    ("电线杆的电线垂落下来，快碰到人了", &["10002", "01030"], 3),
    ("墙上贴满了牛皮癣小广告", &["07001"], 1),
    ("有人在路口发传单", &["07002"], 1),
    ("路边有一只死狗，很久没人处理", &["06037"], 1),
    ("流浪汉在桥洞下睡觉", &["09003"], 1),
    ("店门口把桌子摆到人行道上经营", &["09005", "09006"], 3),
    ("路边烧烤摊烟很大", &["06029"], 1),
    ("有人在绿化带里焚烧垃圾", &["06020"], 1),
    ("渣土车沿路撒漏，满地都是泥", &["06014", "08011"], 3),
    ("工地扬尘很大，没有洒水", &["08004"], 1),
    ("工地围挡倒了", &["08007"], 1),
    ("河里漂着很多垃圾和水葫芦", &["06025"], 1),
    ("河水发黑发臭", &["06026"], 1),
    ("公厕太脏了，没有水冲", &["03001"], 1),
    ("公交站台的候车亭玻璃碎了", &["02004"], 1),
    ("道路护栏被撞坏了", &["02017"], 1),
    ("行道树倒了，压在路上", &["04002"], 1),
    ("有人偷砍小区的树", &["06022"], 1),
    ("绿地被人种菜了", &["06045"], 1),
    ("楼道里堆满了杂物", &["06036"], 1),
    ("私装地锁占用公共车位", &["06040"], 1),
    ("消防栓漏水", &["01013"], 1),
    ("电梯坏了，老人下不了楼", &["01076"], 1),
    ("燃气管道好像漏气，有煤气味", &["01057"], 1),
    ("路面结冰，很多人摔倒", &["10001"], 1),
    ("马路牙子被压坏了", &["06050"], 1),
    ("减速带松动，车过去哐哐响", &["02043"], 1),
    ("菜市场门口乱糟糟的", &["09020"], 1),
    ("有人在路边洗车，水流得满地都是", &["09021"], 1),
    ("监控摄像头歪了", &["01050"], 1),
    ("充电桩坏了充不上电", &["01054"], 1),
    ("楼上空调外机一直滴水", &["06009"], 1),
    ("有人在阳台晾晒衣服，挂到街面上", &["06007"], 1),
    ("小区里有人养鸡，臭气熏天", &["06038"], 1),
];

fn code(s: &str) -> ClassCode {
    ClassCode::parse(s).unwrap()
}

#[test]
fn realistic_complaints_get_the_expected_class() {
    let c = Classifier::new(&Catalogue::national());
    assert!(TABLE.len() >= 40);
    let mut failures = Vec::new();
    for (text, codes, rank) in TABLE {
        let got = c.suggest(text, 5);
        let pos = got.iter().position(|s| codes.contains(&s.code.as_str()));
        if pos.is_none_or(|p| p >= *rank) {
            failures.push(format!(
                "{text}: want {codes:?} in top {rank}, got {:?}",
                got.iter()
                    .map(|s| format!("{} {} {:.3} ({})", s.code, s.name, s.score, s.reason))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} misses:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_bare_manhole_cover_suggests_the_manhole_classes_in_code_order() {
    let c = Classifier::new(&Catalogue::national());
    let got = c.suggest("小区门口井盖没了，很危险", 5);
    let codes: Vec<&str> = got.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(codes, vec!["01001", "01002", "01003", "01005", "01006"]);
    assert!(got[0].reason.contains("井盖"), "{}", got[0].reason);
    assert_eq!(got[0].name, "供水井盖异常");
    assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn reasons_name_the_matched_keywords() {
    let c = Classifier::new(&Catalogue::national());
    let got = c.suggest("有人占道摆摊", 3);
    assert_eq!(got[0].code.as_str(), "09006");
    assert!(got[0].reason.contains("占道摆摊"), "{}", got[0].reason);
    assert!(got[0].score > 0.0 && got[0].score <= 1.0);
}

#[test]
fn learning_changes_a_suggestion() {
    let cat = Catalogue::national();
    let mut c = Classifier::new(&cat);
    let text = "站前路口黑车拉客";
    let before = c.suggest(text, 3);
    assert!(
        before.iter().all(|s| s.code.as_str() != "09009"),
        "{before:?}"
    );
    for t in [
        "火车站黑车拉客",
        "黑车在路口拉客",
        "又有黑车拉客",
        "黑车拉客堵路",
    ] {
        c.learn(t, &code("09009")).unwrap();
    }
    let after = c.suggest(text, 3);
    assert_eq!(after[0].code.as_str(), "09009", "{after:?}");
    assert!(
        after[0].reason.contains("learnt from 4 past cases"),
        "{}",
        after[0].reason
    );
    assert!(after[0].reason.contains("黑车拉客"), "{}", after[0].reason);
    // The counts survive a JSON round trip and teach a fresh classifier the same.
    let json = serde_json::to_string(c.learner()).unwrap();
    let mut fresh = Classifier::new(&cat);
    fresh.set_learner(serde_json::from_str::<Learner>(&json).unwrap());
    assert_eq!(fresh.suggest(text, 3), after);
}

#[test]
fn learning_blends_with_keywords_and_can_reorder_them() {
    let cat = Catalogue::national();
    let mut c = Classifier::new(&cat);
    let text = "门口井盖响";
    assert_eq!(c.suggest(text, 1)[0].code.as_str(), "01001");
    for _ in 0..30 {
        c.learn("门口井盖响，晚上吵", &code("01011")).unwrap();
    }
    let got = c.suggest(text, 3);
    assert_eq!(got[0].code.as_str(), "01011", "{got:?}");
    assert!(got[0].reason.contains("keywords") && got[0].reason.contains("learnt"));
    assert!(c.learn("x", &code("99999")).is_err());
}

#[test]
fn empty_garbage_and_huge_input_are_handled() {
    let c = Classifier::new(&Catalogue::national());
    assert!(c.suggest("", 5).is_empty());
    assert!(c.suggest("   \n\t", 5).is_empty());
    assert!(c.suggest("？？？！！！@#$%^&*", 5).is_empty());
    assert!(c.suggest("asdfghjkl qwerty", 5).is_empty());
    assert!(c.suggest("路灯不亮", 0).is_empty());
    let huge = "路灯不亮，".repeat(200_000);
    let got = c.suggest(&huge, 3);
    assert_eq!(got[0].code.as_str(), "01037");
    let binary: String = (0u32..2000).filter_map(char::from_u32).collect();
    let _ = c.suggest(&binary, 5);
}

#[test]
fn suggestions_are_deterministic() {
    let c = Classifier::new(&Catalogue::national());
    for (text, _, _) in TABLE {
        let a = c.suggest(text, 10);
        let b = Classifier::new(&Catalogue::national()).suggest(text, 10);
        assert_eq!(a, b, "{text}");
    }
}
