//! Calendar dates (UTC), as cluster.toml writes them: `2027-03-31`.

use std::fmt;

/// A day of the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// `YYYY-MM-DD`; the error says what is accepted.
    pub fn parse(text: &str) -> Result<Date, String> {
        let bad = || format!("`{text}` is not a date: write it as YYYY-MM-DD, e.g. `2027-03-31`");
        let parts: Vec<&str> = text.trim().split('-').collect();
        let [y, m, d] = parts.as_slice() else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let (year, month, day): (i32, u8, u8) = (
            y.parse().map_err(|_| bad())?,
            m.parse().map_err(|_| bad())?,
            d.parse().map_err(|_| bad())?,
        );
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(bad());
        }
        Ok(Date { year, month, day })
    }

    /// Today in UTC.
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Date::from_days((secs / 86_400) as i64)
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's civil-from-days).
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

/// A Unix time as RFC 3339 in UTC: `2026-11-30T07:03:02Z`.
pub fn rfc3339(unix_seconds: u64) -> String {
    let day = Date::from_days((unix_seconds / 86_400) as i64);
    let s = unix_seconds % 86_400;
    format!("{day}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        // `"2027-03-31"` as text, or a TOML date written bare (`expires = 2027-03-31`).
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Toml(toml::value::Datetime),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(text) => text,
            Raw::Toml(datetime) => match (datetime.date, datetime.time) {
                (Some(date), None) => date.to_string(),
                _ => {
                    return Err(serde::de::Error::custom(format!(
                        "`{datetime}` is not a day: write the date alone, `2027-03-31`"
                    )))
                }
            },
        };
        Date::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Date;

    #[test]
    fn dates_read_as_text_or_bare_toml() {
        #[derive(serde::Deserialize)]
        struct F {
            d: Date,
        }
        let quoted: F = toml::from_str("d = \"2027-03-31\"").unwrap();
        let bare: F = toml::from_str("d = 2027-03-31").unwrap();
        assert_eq!(quoted.d, bare.d);
        assert!(toml::from_str::<F>("d = 2027-03-31T10:00:00Z").is_err());
    }

    #[test]
    fn dates_parse_print_and_count() {
        let d = Date::parse("2027-03-31").unwrap();
        assert_eq!(d.to_string(), "2027-03-31");
        assert!(Date::parse("2028-02-29").is_ok());
        for bad in [
            "2027-02-29",
            "2027-13-01",
            "2027-3-31",
            "31.03.2027",
            "",
            "2027-04-31",
        ] {
            assert!(
                Date::parse(bad).unwrap_err().contains("YYYY-MM-DD"),
                "{bad}"
            );
        }
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_days(19_722).to_string(), "2023-12-31");
        assert_eq!(Date::from_days(20_787).to_string(), "2026-11-30");
        assert!(Date::parse("2026-12-01").unwrap() > Date::from_days(20_787));
        assert_eq!(super::rfc3339(1_796_022_182), "2026-11-30T07:03:02Z");
    }
}
