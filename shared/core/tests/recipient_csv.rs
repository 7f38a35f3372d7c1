//! RecipientCSV as upstream reads a file: columns, rows, messages, streaming.

use notify_core::jobs::MAX_ROWS;
use notify_core::model::NotificationType;
use notify_core::recipient_csv::{CsvProblem, CsvTemplate, Recipient, RowError, check, rows};

fn template(kind: NotificationType, placeholders: &[&str]) -> CsvTemplate {
    CsvTemplate {
        template_type: kind,
        placeholders: placeholders.iter().map(|p| p.to_string()).collect(),
        international_sms: false,
        international_letters: false,
        max_rows: MAX_ROWS,
    }
}

fn sms(placeholders: &[&str]) -> CsvTemplate {
    template(NotificationType::Sms, placeholders)
}

fn errors(problem: Result<impl std::fmt::Debug, CsvProblem>) -> Vec<String> {
    match problem {
        Err(CsvProblem::RowErrors(errors)) => errors.iter().map(RowError::to_string).collect(),
        other => panic!("expected row errors, got {other:?}"),
    }
}

#[test]
fn row_messages_as_a_user_sees_them() {
    let email = template(NotificationType::Email, &["name"]);
    let letter = template(NotificationType::Letter, &["name"]);
    let plain = sms(&[]);
    let named = sms(&["name"]);
    let cases: Vec<(&str, &CsvTemplate, &str, Vec<&str>)> = vec![
        (
            "sms not a mobile",
            &plain,
            "phone number\n07700900123\n020 8123 4567\n",
            vec!["Row 3 - phone number: Not a UK mobile number"],
        ),
        (
            "sms international without permission",
            &plain,
            "phone number\n+1 202 555 0104\n",
            vec!["Row 2 - phone number: Not a UK mobile number"],
        ),
        (
            "sms letters in number",
            &plain,
            "phone number\n0770090abc\n",
            vec!["Row 2 - phone number: Must not contain letters or symbols"],
        ),
        (
            "sms too short",
            &plain,
            "phone number\n0770090\n",
            vec!["Row 2 - phone number: Not enough digits"],
        ),
        (
            "sms too long",
            &plain,
            "phone number\n077009001234567\n",
            vec!["Row 2 - phone number: Too many digits"],
        ),
        (
            "sms empty recipient and placeholder",
            &named,
            "Phone Number,Name\n,\n07700900123,Anne\n",
            vec!["Row 2 - Phone Number: Missing", "Row 2 - Name: Missing"],
        ),
        (
            "email invalid",
            &email,
            "email address,name\nnot-an-email,Bob\nok@example.com,\n",
            vec![
                "Row 2 - email address: Not a valid email address",
                "Row 3 - name: Missing",
            ],
        ),
        (
            "letter bad postcode",
            &letter,
            "address line 1,address line 2,postcode,name\nA Person,1 Street,NOTAPOSTCODE,Al\n",
            vec!["Row 2 - address: Must be a real UK postcode"],
        ),
        (
            "letter too few lines",
            &letter,
            "address line 1,address line 2,postcode,name\nA Person,,SW1A 1AA,Al\n",
            vec!["Row 2 - address: Address must be at least 3 lines"],
        ),
    ];
    for (name, template, file, expected) in cases {
        assert_eq!(errors(check(file.as_bytes(), template)), expected, "{name}");
    }
}

#[test]
fn international_permission_is_honoured() {
    let mut t = sms(&[]);
    t.international_sms = true;
    assert_eq!(
        check(b"phone number\n+1 202 555 0104\n", &t)
            .unwrap()
            .row_count,
        1
    );
}

#[test]
fn columns_are_matched_folded_and_named_as_the_template_writes_them() {
    let t = sms(&["First Name", "ref code"]);
    let ok = check(b"PHONE_NUMBER,first-name,RefCode\n07700900123,Anne,x\n", &t).unwrap();
    assert_eq!(ok.row_count, 1);
    assert_eq!(ok.columns, ["PHONE_NUMBER", "first-name", "RefCode"]);

    let cases: Vec<(&str, CsvTemplate, &str, CsvProblem)> = vec![
        (
            "missing recipient and placeholder",
            sms(&["First Name"]),
            "name\nAnne\n",
            CsvProblem::MissingColumns(vec!["phone number".into(), "First Name".into()]),
        ),
        (
            "empty file",
            sms(&[]),
            "",
            CsvProblem::MissingColumns(vec!["phone number".into()]),
        ),
        (
            "header only",
            sms(&[]),
            "phone number\n",
            CsvProblem::NoRows,
        ),
        (
            "email column",
            template(NotificationType::Email, &[]),
            "phone number\n07700900123\n",
            CsvProblem::MissingColumns(vec!["email address".into()]),
        ),
        (
            "duplicate recipient columns",
            sms(&[]),
            "phone number,Phone_Number\n07700900123,07700900123\n",
            CsvProblem::DuplicateColumns(vec!["phone number".into(), "Phone_Number".into()]),
        ),
        (
            "letter with two address columns",
            template(NotificationType::Letter, &[]),
            "address line 1,postcode\nA,SW1A 1AA\n",
            CsvProblem::MissingColumns(vec!["address line 2".into()]),
        ),
    ];
    for (name, template, file, expected) in cases {
        assert_eq!(
            check(file.as_bytes(), &template).unwrap_err(),
            expected,
            "{name}"
        );
    }
}

#[test]
fn letters_accept_three_address_columns_of_either_set() {
    let t = template(NotificationType::Letter, &["address line 1"]);
    for file in [
        "address_line_1,address_line_2,postcode\nA Person,1 Street,SW1A 1AA\n",
        "address line 1,address line 2,address line 7\nA Person,1 Street,SW1A 1AA\n",
        "Address Line 1,Address Line 3,Address Line 5\nA Person,1 Street,SW1A 1AA\n",
    ] {
        assert_eq!(
            check(file.as_bytes(), &t),
            Ok(notify_core::recipient_csv::CheckedFile {
                row_count: 1,
                columns: file
                    .lines()
                    .next()
                    .unwrap()
                    .split(',')
                    .map(String::from)
                    .collect(),
            }),
            "{file}"
        );
    }
}

#[test]
fn bom_crlf_quotes_trailing_empties_and_extra_cells() {
    let t = sms(&["name"]);
    let file = "\u{feff}phone number,name,,\r\n\"07700 900123\",\"Smith, Anne\",,\r\n07700900124,\"Bob \"\"B\"\"\",extra,cells\r\n,,,\r\n\r\n";
    assert_eq!(check(file.as_bytes(), &t).unwrap().row_count, 2);
    let all: Vec<_> = rows(file.as_bytes(), &t, 0).unwrap().collect();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].raw_recipient, "07700 900123");
    assert_eq!(all[0].personalisation["name"], "Smith, Anne");
    assert_eq!(all[1].personalisation["name"], "Bob \"B\"");
    assert!(matches!(all[1].recipient, Ok(Recipient::Phone(_))));
}

#[test]
fn an_empty_row_in_the_middle_is_a_row_as_upstream() {
    let t = sms(&[]);
    assert_eq!(
        errors(check(b"phone number,name\n,\n07700900123,Anne\n", &t)),
        ["Row 2 - phone number: Missing"]
    );
}

#[test]
fn job_rows_carry_personalisation_reference_and_bad_recipients() {
    let t = sms(&["First Name"]);
    let file = b"Phone Number,first_name,Reference,colour\n07700900123,Anne,ref-1,\n0770090abc,Bob,,blue\n";
    let all: Vec<_> = rows(file, &t, 0).unwrap().collect();
    assert_eq!(all[0].number, 0);
    assert_eq!(all[0].reference.as_deref(), Some("ref-1"));
    assert_eq!(
        serde_json::Value::Object(all[0].personalisation.clone()),
        serde_json::json!({"Phone Number": "07700900123", "First Name": "Anne"})
    );
    assert_eq!(all[1].number, 1);
    assert_eq!(all[1].reference, None);
    assert_eq!(all[1].raw_recipient, "0770090abc");
    assert_eq!(
        all[1].recipient.as_ref().unwrap_err(),
        "Must not contain letters or symbols"
    );
    assert_eq!(all[1].personalisation["colour"], "blue");

    let letter = template(NotificationType::Letter, &["name"]);
    let file = b"Address Line 1,address line 2,Postcode,Name\nA Person,1 Street,sw1a1aa,Al\n";
    let row = rows(file, &letter, 0).unwrap().next().unwrap();
    assert_eq!(row.raw_recipient, "A Person\n1 Street\nsw1a1aa");
    assert!(matches!(row.recipient, Ok(Recipient::Address(_))));
    assert_eq!(
        serde_json::Value::Object(row.personalisation),
        serde_json::json!({"address_line_1": "A Person", "address_line_2": "1 Street", "postcode": "sw1a1aa", "name": "Al"})
    );
}

#[test]
fn rows_resume_from_a_row() {
    let t = sms(&[]);
    let mut file = String::from("phone number\n");
    for i in 0..10 {
        file.push_str(&format!("077009001{i:02}\n"));
    }
    let resumed: Vec<_> = rows(file.as_bytes(), &t, 7).unwrap().collect();
    assert_eq!(
        resumed.iter().map(|r| r.number).collect::<Vec<_>>(),
        [7, 8, 9]
    );
    assert_eq!(resumed[0].raw_recipient, "07700900107");
    assert_eq!(rows(file.as_bytes(), &t, 50).unwrap().count(), 0);
}

#[test]
fn a_hundred_thousand_rows_and_no_more() {
    let t = sms(&["name"]);
    let mut file = String::from("phone number,name\n");
    for i in 0..MAX_ROWS {
        file.push_str(&format!("07700{:06},n\n", i % 1_000_000));
    }
    assert_eq!(check(file.as_bytes(), &t).unwrap().row_count, MAX_ROWS);
    assert_eq!(rows(file.as_bytes(), &t, 0).unwrap().count(), MAX_ROWS);
    file.push_str("07700900123,n\n");
    assert_eq!(
        check(file.as_bytes(), &t).unwrap_err(),
        CsvProblem::TooManyRows {
            rows: MAX_ROWS + 1,
            max: MAX_ROWS
        }
    );
}
