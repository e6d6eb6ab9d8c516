//! Loose comparison of places: "SAO PAULO - SP" is São Paulo, "75001 Paris" is Paris,
//! Москва is Moscow. Used to tell whether a delivery happened where the buyer lives.

use super::classify::fold;

/// Native and English names of cities buyers often live in, as folded words.
const CITY_ALIASES: &[&[&str]] = &[
    &["moscow", "moskva", "москва"],
    &[
        "saint petersburg",
        "st petersburg",
        "sankt peterburg",
        "санкт петербург",
    ],
    &["kyiv", "kiev", "київ", "киев"],
    &["kharkiv", "kharkov", "харків", "харьков"],
    &["odesa", "odessa", "одеса", "одесса"],
    &["lviv", "lvov", "львів", "львов"],
    &["warsaw", "warszawa"],
    &["krakow", "cracow"],
    &["lisbon", "lisboa"],
    &["munich", "munchen"],
    &["cologne", "koln"],
    &["vienna", "wien"],
    &["prague", "praha"],
    &["rome", "roma"],
    &["milan", "milano"],
    &["naples", "napoli"],
    &["turin", "torino"],
    &["florence", "firenze"],
    &["venice", "venezia"],
    &["brussels", "bruxelles", "brussel"],
    &["antwerp", "antwerpen", "anvers"],
    &["the hague", "den haag", "s gravenhage"],
    &["geneva", "geneve", "genf"],
    &["zurich"],
    &["copenhagen", "kobenhavn"],
    &["gothenburg", "goteborg"],
    &["seville", "sevilla"],
    &["athens", "athina"],
    &["bucharest", "bucuresti"],
    &["belgrade", "beograd"],
    &["istanbul"],
    &["tel aviv", "תל אביב"],
    &["jerusalem", "ירושלים"],
    &["beijing", "北京"],
    &["shanghai", "上海"],
    &["mexico city", "ciudad de mexico", "cdmx"],
];

/// Country codes with their English and native names, as folded words.
const COUNTRY_NAMES: &[(&str, &[&str])] = &[
    ("ES", &["spain", "espana"]),
    ("FR", &["france"]),
    ("DE", &["germany", "deutschland"]),
    ("IT", &["italy", "italia"]),
    ("PT", &["portugal"]),
    ("NL", &["netherlands", "nederland", "holland"]),
    ("BE", &["belgium", "belgique", "belgie"]),
    ("PL", &["poland", "polska"]),
    ("GB", &["united kingdom", "great britain", "england"]),
    ("US", &["united states", "usa"]),
    ("CA", &["canada"]),
    ("BR", &["brazil", "brasil"]),
    ("MX", &["mexico"]),
    ("RU", &["russia", "россия", "рф"]),
    ("UA", &["ukraine", "україна", "украина"]),
    ("TR", &["turkey", "turkiye"]),
    ("IL", &["israel", "ישראל"]),
    ("CN", &["china", "中国"]),
    ("AU", &["australia"]),
    ("CH", &["switzerland", "schweiz", "suisse"]),
    ("AT", &["austria", "osterreich"]),
    ("SE", &["sweden", "sverige"]),
    ("CZ", &["czechia", "czech republic", "cesko"]),
    ("HK", &["hong kong"]),
    ("IE", &["ireland"]),
    ("NO", &["norway", "norge"]),
    ("DK", &["denmark", "danmark"]),
    ("FI", &["finland", "suomi"]),
    ("NZ", &["new zealand"]),
    ("JP", &["japan"]),
    ("KR", &["korea", "south korea"]),
    ("SA", &["saudi arabia"]),
    ("AE", &["united arab emirates"]),
    ("CL", &["chile"]),
];

/// The English name of a country code (`NL` → `Netherlands`), or the code itself for a
/// country the table does not name.
pub fn country_name(code: &str) -> String {
    let upper = code.trim().to_ascii_uppercase();
    let Some((_, names)) = COUNTRY_NAMES.iter().find(|(known, _)| **known == upper) else {
        return upper;
    };
    let Some(name) = names.first() else {
        return upper;
    };
    if upper == "US" {
        return "the United States".to_owned();
    }
    let titled: Vec<String> = name
        .split(' ')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
        .collect();
    let titled = titled.join(" ");
    match upper.as_str() {
        "NL" | "GB" | "AE" | "CZ" => format!("the {titled}"),
        _ => titled,
    }
}

/// Folded words of a place, without postcodes and other digits.
fn words(place: &str) -> String {
    let folded = fold(place);
    let words: Vec<&str> = folded
        .split_whitespace()
        .filter(|word| !word.chars().any(|c| c.is_ascii_digit()))
        .collect();
    format!(" {} ", words.join(" "))
}

fn canonical_city(folded_city: &str) -> String {
    let trimmed = folded_city.trim();
    for aliases in CITY_ALIASES {
        if aliases.iter().any(|alias| fold(alias).trim() == trimmed) {
            return fold(aliases[0]).trim().to_owned();
        }
    }
    trimmed.to_owned()
}

/// Whether the event location names the buyer's city (loosely), `None` when the
/// location is empty.
pub fn same_city(location: &str, city: &str) -> Option<bool> {
    let location = words(location);
    let city = canonical_city(&words(city));
    if location.trim().is_empty() || city.is_empty() {
        return None;
    }
    if location.contains(&format!(" {city} ")) {
        return Some(true);
    }
    for aliases in CITY_ALIASES {
        let names: Vec<String> = aliases
            .iter()
            .map(|alias| fold(alias).trim().to_owned())
            .collect();
        if names.first().is_some_and(|first| *first == city)
            && names.iter().any(|name| location.contains(&format!(" {name} ")))
        {
            return Some(true);
        }
    }
    Some(false)
}

/// An ISO code for a country field that a source fills with a code or a name ("NL",
/// "Mainland China"); a name we do not know is kept as written.
pub fn country_code(country: &str) -> String {
    let trimmed = country.trim();
    if trimmed.len() == 2 && trimmed.bytes().all(|b| b.is_ascii_alphabetic()) {
        return trimmed.to_ascii_uppercase();
    }
    country_of(trimmed).map_or_else(|| trimmed.to_owned(), str::to_owned)
}

/// The country a location names, if it names one (a trailing ISO code or a name).
pub fn country_of(location: &str) -> Option<&'static str> {
    let folded = words(location);
    let last = folded.split_whitespace().last()?;
    if last.len() == 2 {
        let upper = last.to_ascii_uppercase();
        if let Some((code, _)) = COUNTRY_NAMES.iter().find(|(code, _)| **code == upper) {
            return Some(code);
        }
    }
    COUNTRY_NAMES
        .iter()
        .find(|(_, names)| {
            names
                .iter()
                .any(|name| folded.contains(&format!(" {} ", fold(name).trim())))
        })
        .map(|(code, _)| *code)
}
