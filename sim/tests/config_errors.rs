//! Golden tests for the gameplay asset knobs: a broken `cities.toml` or `marches.toml` in, the
//! exact errors (file:line: field: message) out.

mod common;

use common::asset_files;
use dominion_sim::config::Assets;

fn errors_with(file: &str, text: &str) -> String {
    let mut files = asset_files(200);
    files.insert(file.to_owned(), text.to_owned());
    match Assets::parse(&files) {
        Ok(_) => "(no error)".to_owned(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn cities_toml_errors_name_file_line_and_field() {
    let text = "\
[city]
troops = { infantry = 10, dragons = 5, archer = -1 }
resources = { food = 1, mana = 3 }
colour = \"red\"
";
    assert_eq!(
        errors_with("cities.toml", text),
        "\
cities.toml:1: relocation: missing field
cities.toml:2: city.troops.dragons: unknown unit type \"dragons\" (known: infantry, archer, cavalry, siege)
cities.toml:2: city.troops.archer: must be between 0 and 100000000, found -1
cities.toml:3: city.resources.mana: unknown resource \"mana\" (known: food, wood, stone, gold)
cities.toml:4: city.colour: unknown field (expected one of: troops, resources)"
    );
    assert_eq!(
        errors_with("cities.toml", "[city]\ntroops = { infantry = 1 }\n"),
        "cities.toml:1: relocation: missing field\ncities.toml:1: city.resources: missing field"
    );
    let relocation = "\
[city]
troops = { infantry = 1 }
resources = { food = 1 }

[relocation]
cooldown_seconds = -5
cost = { gold = 10, mana = 1 }
";
    assert_eq!(
        errors_with("cities.toml", relocation),
        "\
cities.toml:6: relocation.cooldown_seconds: must be between 0 and 2592000, found -5
cities.toml:7: relocation.cost.mana: unknown resource \"mana\" (known: food, wood, stone, gold)"
    );
}

#[test]
fn missing_cities_file_is_reported() {
    let mut files = asset_files(200);
    files.remove("cities.toml");
    let e = Assets::parse(&files).unwrap_err().to_string();
    assert_eq!(
        e,
        "cities.toml:0: (file): file is missing from the assets folder"
    );
}

#[test]
fn march_and_battle_knobs_are_range_checked() {
    let text = "\
[march]
queue_limit = 5
max_troops = 200000
gather_per_minute = 6000
scout_speed = 120
route_budget_per_tick = 0
intercept_range = 2

[battle]
max_rounds = 10
wounded_share = 0.7
damage_scale = 1.0
";
    assert_eq!(
        errors_with("marches.toml", text),
        "\
marches.toml:6: march.route_budget_per_tick: must be between 1 and 1000000, found 0
marches.toml:9: battle.loot_share: missing field"
    );
    let parsed = Assets::parse(&asset_files(200)).unwrap();
    assert_eq!(parsed.marches.battle.loot_permille, 300);
    assert_eq!(parsed.marches.march.route_budget_per_tick, 2048);
    assert_eq!(parsed.marches.march.intercept_range, 2);
    assert_eq!(
        parsed.cities.city.starting_troops.0,
        vec![20_000, 20_000, 10_000, 2_000]
    );
}
