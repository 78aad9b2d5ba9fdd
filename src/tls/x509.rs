//! What the server reads from a peer's X.509 certificate: the subject and
//! the e-mail, DNS and URI subject alternative names, for `verify_and_map`
//! and for the subjects Go names in handshake errors.
//!
//! A small DER reader, bounded by its input: every length is checked
//! against the bytes that remain, tags are single-byte, lengths at most four
//! bytes, nesting fixed by the certificate's shape (no recursion on input),
//! and anything malformed gives `None`. The certificate was already
//! verified by rustls when these run, but the reader does not rely on it.
//!
//! The strings follow Go's `crypto/x509/pkix` (`Name.String()`,
//! `Name.ToRDNSequence().String()`) and the LDAP DN matching of the Go
//! server's `internal/ldap`, so user names written for a Go server map the
//! same certificates here.

/// One tag-length-value element: its tag, its contents, and what follows.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags: never in the parts read here
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if len > rest.len() {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The contents of an element with tag `want`, and what follows.
fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = tlv(input)?;
    (tag == want).then_some((body, rest))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;

/// One attribute of a distinguished name: its OID (DER contents) and its
/// value (tag and contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr<'a> {
    pub oid: &'a [u8],
    pub tag: u8,
    pub value: &'a [u8],
}

/// The parts of a certificate the server uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CertInfo<'a> {
    /// The subject's relative distinguished names, in certificate order.
    pub subject: Vec<Vec<Attr<'a>>>,
    /// The SubjectPublicKeyInfo element, whole (for its SHA-256).
    pub spki: &'a [u8],
    pub emails: Vec<&'a str>,
    pub dns_names: Vec<&'a str>,
    pub uris: Vec<&'a str>,
}

/// Reads a DER certificate; `None` when it is not one.
pub fn parse_cert(der: &[u8]) -> Option<CertInfo<'_>> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    // [0] EXPLICIT version, optional.
    if let Some((0xa0, _, r)) = tlv(rest) {
        rest = r;
    }
    let (_serial, r) = expect(rest, 0x02)?;
    let (_sig_alg, r) = expect(r, SEQUENCE)?;
    let (_issuer, r) = expect(r, SEQUENCE)?;
    let (_validity, r) = expect(r, SEQUENCE)?;
    let (subject, r) = expect(r, SEQUENCE)?;
    let (_, mut rest) = expect(r, SEQUENCE)?;
    let spki = &r[..r.len() - rest.len()];
    let mut info = CertInfo { subject: parse_name(subject)?, spki, ..Default::default() };
    while !rest.is_empty() {
        let (tag, body, r) = tlv(rest)?;
        rest = r;
        if tag != 0xa3 {
            continue; // issuer/subject unique IDs
        }
        let (mut exts, _) = expect(body, SEQUENCE)?;
        while !exts.is_empty() {
            let (ext, r) = expect(exts, SEQUENCE)?;
            exts = r;
            let (oid, mut e) = expect(ext, OID)?;
            if let Some((0x01, _, r)) = tlv(e) {
                e = r; // critical
            }
            let (value, _) = expect(e, OCTET_STRING)?;
            // subjectAltName, 2.5.29.17
            if oid == [0x55, 0x1d, 0x11] {
                alt_names(value, &mut info)?;
            }
        }
    }
    Some(info)
}

fn alt_names<'a>(value: &'a [u8], info: &mut CertInfo<'a>) -> Option<()> {
    let (mut names, _) = expect(value, SEQUENCE)?;
    while !names.is_empty() {
        let (tag, body, r) = tlv(names)?;
        names = r;
        let list = match tag {
            0x81 => &mut info.emails,
            0x82 => &mut info.dns_names,
            0x86 => &mut info.uris,
            _ => continue,
        };
        // IA5String: ASCII only, as Go requires.
        if !body.is_ascii() {
            return None;
        }
        list.push(std::str::from_utf8(body).ok()?);
    }
    Some(())
}

/// A Name: a SEQUENCE of SETs of (OID, value) SEQUENCEs.
fn parse_name(mut body: &[u8]) -> Option<Vec<Vec<Attr<'_>>>> {
    let mut rdns = Vec::new();
    while !body.is_empty() {
        let (mut set, r) = expect(body, SET)?;
        body = r;
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let (atv, r) = expect(set, SEQUENCE)?;
            set = r;
            let (oid, v) = expect(atv, OID)?;
            let (tag, value, _) = tlv(v)?;
            rdn.push(Attr { oid, tag, value });
        }
        rdns.push(rdn);
    }
    Some(rdns)
}

/// The dotted form of an OID's DER contents.
pub fn oid_string(oid: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        if v > (u64::MAX >> 7) {
            return None;
        }
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let (a, b) = match v {
                    0..40 => (0, v),
                    40..80 => (1, v - 40),
                    _ => (2, v - 80),
                };
                arcs.push(a);
                arcs.push(b);
            } else {
                arcs.push(v);
            }
            v = 0;
        } else if i + 1 == oid.len() {
            return None;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(arcs.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

/// A string-typed attribute value as Go decodes it; `None` for other types
/// (Go refuses such certificates).
pub fn value_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        // UTF8String
        0x0c => std::str::from_utf8(value).ok().map(str::to_string),
        // PrintableString, IA5String, NumericString: ASCII
        0x13 | 0x16 | 0x12 => value.is_ascii().then(|| value.iter().map(|&b| b as char).collect()),
        // T61String: each byte a character
        0x14 => Some(value.iter().map(|&b| b as char).collect()),
        // BMPString: UTF-16, big-endian
        0x1e => {
            if !value.len().is_multiple_of(2) {
                return None;
            }
            let units = value.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units).collect::<Result<String, _>>().ok()
        }
        _ => None,
    }
}

/// The short names Go gives attribute types (`2.5.4.x`).
fn type_name(oid: &[u8]) -> Option<&'static str> {
    match oid {
        [0x55, 0x04, 3] => Some("CN"),
        [0x55, 0x04, 5] => Some("SERIALNUMBER"),
        [0x55, 0x04, 6] => Some("C"),
        [0x55, 0x04, 7] => Some("L"),
        [0x55, 0x04, 8] => Some("ST"),
        [0x55, 0x04, 9] => Some("STREET"),
        [0x55, 0x04, 10] => Some("O"),
        [0x55, 0x04, 11] => Some("OU"),
        [0x55, 0x04, 17] => Some("POSTALCODE"),
        _ => None,
    }
}

/// domainComponent, 0.9.2342.19200300.100.1.25
const DC_OID: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];

/// Escapes a value as Go's `RDNSequence.String()` does.
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for (k, c) in v.char_indices() {
        let esc = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == v.len() - 1,
            '#' => k == 0,
            _ => false,
        };
        if esc {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// `#` and the hex of the DER Go's `asn1.Marshal` makes of a string value:
/// a PrintableString when every character allows it, else a UTF8String.
fn marshalled_hex(v: &str) -> String {
    let printable = v.bytes().all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let mut der = vec![if printable { 0x13 } else { 0x0c }];
    let n = v.len();
    if n < 0x80 {
        der.push(n as u8);
    } else {
        let bytes = (n as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        der.push(0x80 | (4 - skip) as u8);
        der.extend_from_slice(&bytes[skip..]);
    }
    der.extend_from_slice(v.as_bytes());
    let mut s = String::from("#");
    s.push_str(&hex(&der));
    s
}

pub fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

/// Renders RDNs (each a list of `TYPE=value` pieces) as Go does: last RDN
/// first, RDNs joined by `,`, attributes of one RDN by `+`.
fn render(seq: &[Vec<String>]) -> String {
    seq.iter().rev().map(|rdn| rdn.join("+")).collect::<Vec<_>>().join(",")
}

/// Go's `Name.ToRDNSequence()` of a parsed subject: the known attribute
/// types in a fixed order (values of one type in one RDN), the last CN and
/// serial number only.
fn known_rdns(subject: &[Vec<Attr>]) -> Vec<Vec<String>> {
    let mut by_type: [(&str, Vec<String>); 9] = [
        ("C", Vec::new()),
        ("ST", Vec::new()),
        ("L", Vec::new()),
        ("STREET", Vec::new()),
        ("POSTALCODE", Vec::new()),
        ("O", Vec::new()),
        ("OU", Vec::new()),
        ("CN", Vec::new()),
        ("SERIALNUMBER", Vec::new()),
    ];
    for a in subject.iter().flatten() {
        let (Some(t), Some(v)) = (type_name(a.oid), value_string(a.tag, a.value)) else { continue };
        if let Some((_, list)) = by_type.iter_mut().find(|(n, _)| *n == t) {
            if t == "CN" || t == "SERIALNUMBER" {
                list.clear();
            }
            list.push(v);
        }
    }
    by_type
        .iter()
        // CN and the serial number only when not empty, as Go.
        .filter(|(t, vals)| !vals.is_empty() && !((*t == "CN" || *t == "SERIALNUMBER") && vals[0].is_empty()))
        .map(|(t, vals)| vals.iter().map(|v| format!("{t}={}", escape(v))).collect())
        .collect()
}

/// Go's `cert.Subject.ToRDNSequence().String()`.
pub fn rdn_sequence_string(subject: &[Vec<Attr>]) -> String {
    render(&known_rdns(subject))
}

/// Go's `cert.Subject.String()`: other attribute types after the known
/// ones, as `OID=#hex` of the value's DER (Go 2.9's Go), or with
/// `unknown_as_text` as `OID=value` (the Go of newer servers).
pub fn name_string(subject: &[Vec<Attr>], unknown_as_text: bool) -> String {
    let mut seq: Vec<Vec<String>> = Vec::new();
    for a in subject.iter().flatten() {
        if type_name(a.oid).is_some() {
            continue;
        }
        let (Some(oid), Some(v)) = (oid_string(a.oid), value_string(a.tag, a.value)) else { continue };
        let v = if unknown_as_text { escape(&v) } else { marshalled_hex(&v) };
        seq.push(vec![format!("{oid}={v}")]);
    }
    seq.extend(known_rdns(subject));
    render(&seq)
}

/// `DC=...` of every domainComponent, in certificate order, joined by `,`
/// (the Go server's addition for subjects that have them).
pub fn domain_components(subject: &[Vec<Attr>]) -> String {
    let dcs: Vec<String> = subject
        .iter()
        .flatten()
        .filter(|a| a.oid == DC_OID)
        .filter_map(|a| value_string(a.tag, a.value))
        .map(|v| format!("DC={v}"))
        .collect();
    dcs.join(",")
}

/// A distinguished name as the Go server's LDAP code holds it: RDNs of
/// (type, value) pairs.
pub type Dn = Vec<Vec<(String, String)>>;

/// The subject as an LDAP DN (RDNs and their attributes reversed, as the Go
/// server reads a raw subject); `None` when an attribute type has no short
/// name or a value is not a string.
pub fn subject_dn(subject: &[Vec<Attr>]) -> Option<Dn> {
    let mut dn = Vec::new();
    for rdn in subject.iter().rev() {
        if rdn.is_empty() {
            continue;
        }
        let mut r = Vec::new();
        for a in rdn.iter().rev() {
            let t = if a.oid == DC_OID { "DC" } else { type_name(a.oid)? };
            r.push((t.to_string(), value_string(a.tag, a.value)?));
        }
        dn.push(r);
    }
    Some(dn)
}

/// Parses a DN written as a user name (`CN=alice,O=acme`), with the Go
/// server's LDAP parser's rules: `\` escapes a special character or two hex
/// digits, blanks before a piece are dropped, unescaped blanks after it
/// too; `None` when it is not a DN.
pub fn parse_dn(s: &str) -> Option<Dn> {
    let b = s.as_bytes();
    let mut dn: Dn = Vec::new();
    let mut rdn: Vec<(String, String)> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut typ: Vec<u8> = Vec::new();
    let mut escaping = false;
    let mut trailing = 0usize;
    let take = |buf: &mut Vec<u8>, trailing: &mut usize| {
        let keep = buf.len() - *trailing;
        let v = buf[..keep].to_vec();
        buf.clear();
        *trailing = 0;
        v
    };
    let text = |v: Vec<u8>| String::from_utf8(v).ok();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if escaping {
            trailing = 0;
            escaping = false;
            if b" \"#+,;<=>\\".contains(&c) {
                buf.push(c);
                i += 1;
                continue;
            }
            if i + 1 == b.len() {
                return None;
            }
            let h = std::str::from_utf8(&b[i..i + 2]).ok()?;
            buf.push(u8::from_str_radix(h, 16).ok().filter(|_| h.bytes().all(|x| x.is_ascii_hexdigit()))?);
            i += 2;
            continue;
        }
        match c {
            b'\\' => {
                trailing = 0;
                escaping = true;
            }
            b'=' => {
                typ = take(&mut buf, &mut trailing);
                if b.get(i + 1) == Some(&b'#') {
                    return None;
                }
            }
            b',' | b'+' => {
                if typ.is_empty() {
                    return None;
                }
                let v = take(&mut buf, &mut trailing);
                rdn.push((text(std::mem::take(&mut typ))?, text(v)?));
                if c == b',' {
                    dn.push(std::mem::take(&mut rdn));
                }
            }
            b' ' if buf.is_empty() => {}
            _ => {
                if c == b' ' {
                    trailing += 1;
                } else {
                    trailing = 0;
                }
                buf.push(c);
            }
        }
        i += 1;
    }
    if !buf.is_empty() {
        if typ.is_empty() {
            return None;
        }
        let v = take(&mut buf, &mut trailing);
        rdn.push((text(typ)?, text(v)?));
        dn.push(rdn);
    }
    Some(dn)
}

fn rdn_equal(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let has_all = |x: &[(String, String)], y: &[(String, String)]| {
        y.iter().all(|(t, v)| x.iter().any(|(t2, v2)| t2.eq_ignore_ascii_case(t) && v2 == v))
    };
    a.len() == b.len() && has_all(a, b) && has_all(b, a)
}

/// The same RDNs in the same order.
pub fn dn_equal(a: &Dn, b: &Dn) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| rdn_equal(x, y))
}

/// Every RDN of `a` is among those of `b` (the order may differ).
pub fn dn_rdns_match(a: &Dn, b: &Dn) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| rdn_equal(x, y)))
}

/// `verify_and_map`: the user a client certificate names, as the Go
/// server (2.9) picks it: the first e-mail SAN, DNS SAN or URI SAN that is
/// a user's name; else a user whose name, read as a DN, equals the subject
/// (then one with the same RDNs in another order); else the subject in
/// Go's RDN form with the domain components appended, then without them.
/// `prefix` starts the debug lines (Go's wording). Returns the index into
/// `users`.
pub fn cert_user(der: &[u8], users: &[&str], prefix: &str) -> Option<usize> {
    let Some(cert) = parse_cert(der) else {
        log::debug!("{prefix} - User required in cert, none found");
        return None;
    };
    let find = |name: &str| users.iter().position(|u| *u == name);
    if cert.emails.is_empty() && cert.uris.is_empty() && name_string(&cert.subject, false).is_empty() {
        log::debug!("{prefix} - User required in cert, none found");
        return None;
    }
    for (list, what) in [(&cert.emails, "email"), (&cert.dns_names, "SAN"), (&cert.uris, "URI")] {
        if let Some(i) = list.iter().find_map(|n| find(n)) {
            log::debug!("{prefix} - Using {what} found in cert for auth [{:?}]", users[i]);
            return Some(i);
        }
    }
    let rdn = rdn_sequence_string(&cert.subject);
    if let Some(dn) = subject_dn(&cert.subject) {
        let parsed: Vec<(usize, Dn)> =
            users.iter().enumerate().filter_map(|(i, u)| parse_dn(u).map(|d| (i, d))).collect();
        let hit = parsed
            .iter()
            .find(|(_, d)| dn_equal(d, &dn))
            .or_else(|| parsed.iter().find(|(_, d)| dn_rdns_match(d, &dn)));
        if let Some((i, _)) = hit {
            log::debug!("{prefix} - Using DistinguishedNameMatch for auth [{:?}]", users[*i]);
            return Some(*i);
        }
        log::debug!("{prefix} - DistinguishedNameMatch could not be used for auth [{rdn:?}]");
    }
    let dcs = domain_components(&cert.subject);
    if !dcs.is_empty() {
        let with_dcs = format!("{rdn},{dcs}");
        if let Some(i) = find(&with_dcs) {
            log::debug!("{prefix} - Using RDNSequence for auth [{:?}]", users[i]);
            return Some(i);
        }
        log::debug!("{prefix} - RDNSequence could not be used for auth [{with_dcs:?}]");
    }
    if let Some(i) = find(&rdn) {
        log::debug!("{prefix} - Using certificate subject for auth [{:?}]", users[i]);
        return Some(i);
    }
    log::debug!("{prefix} - User in cert [{rdn:?}], not found");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of a TLV with a short or long length.
    fn t(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if body.len() < 0x80 {
            v.push(body.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    fn atv(oid: &[u8], tag: u8, value: &str) -> Vec<u8> {
        t(0x30, &[t(0x06, oid), t(tag, value.as_bytes())].concat())
    }

    fn name(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        t(0x30, &rdns.iter().map(|r| t(0x31, &r.concat())).collect::<Vec<_>>().concat())
    }

    fn cert(subject: &[u8], sans: &[(u8, &str)]) -> Vec<u8> {
        let san_seq = t(0x30, &sans.iter().map(|(tag, v)| t(*tag, v.as_bytes())).collect::<Vec<_>>().concat());
        let ext = t(0x30, &[t(0x06, &[0x55, 0x1d, 0x11]), t(0x04, &san_seq)].concat());
        let tbs = [
            t(0xa0, &t(0x02, &[2])),
            t(0x02, &[1]),
            t(0x30, &[]),
            t(0x30, &[]),
            t(0x30, &[]),
            subject.to_vec(),
            t(0x30, &[]),
            t(0xa3, &t(0x30, &ext)),
        ]
        .concat();
        t(0x30, &[t(0x30, &tbs), t(0x30, &[]), t(0x03, &[0])].concat())
    }

    const CN: &[u8] = &[0x55, 4, 3];
    const O: &[u8] = &[0x55, 4, 10];
    const OU: &[u8] = &[0x55, 4, 11];
    const C: &[u8] = &[0x55, 4, 6];
    const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

    #[test]
    fn reads_subject_and_alt_names() {
        let subj = name(&[
            vec![atv(DC_OID, 0x16, "org")],
            vec![atv(DC_OID, 0x16, "example")],
            vec![atv(C, 0x13, "US")],
            vec![atv(O, 0x0c, "Acme, Inc")],
            vec![atv(OU, 0x0c, "b"), atv(OU, 0x0c, "a")],
            vec![atv(CN, 0x0c, " alice#")],
            vec![atv(EMAIL, 0x16, "alice@example.org")],
        ]);
        let der = cert(
            &subj,
            &[(0x81, "alice@example.org"), (0x82, "alice.example.org"), (0x86, "spiffe://x/y"), (0x87, "\x7f\0\0\x01")],
        );
        let c = parse_cert(&der).expect("parses");
        assert_eq!(c.spki, [0x30, 0x00]);
        assert_eq!(c.emails, ["alice@example.org"]);
        assert_eq!(c.dns_names, ["alice.example.org"]);
        assert_eq!(c.uris, ["spiffe://x/y"]);
        assert_eq!(rdn_sequence_string(&c.subject), "CN=\\ alice#,OU=b+OU=a,O=Acme\\, Inc,C=US");
        assert_eq!(
            name_string(&c.subject, true),
            "CN=\\ alice#,OU=b+OU=a,O=Acme\\, Inc,C=US,1.2.840.113549.1.9.1=alice@example.org,\
             0.9.2342.19200300.100.1.25=example,0.9.2342.19200300.100.1.25=org"
        );
        assert_eq!(
            name_string(&c.subject, false),
            "CN=\\ alice#,OU=b+OU=a,O=Acme\\, Inc,C=US,\
             1.2.840.113549.1.9.1=#0c11616c696365406578616d706c652e6f7267,\
             0.9.2342.19200300.100.1.25=#13076578616d706c65,0.9.2342.19200300.100.1.25=#13036f7267"
        );
        assert_eq!(domain_components(&c.subject), "DC=org,DC=example");
        // The email attribute has no short name: no LDAP form.
        assert!(subject_dn(&c.subject).is_none());
    }

    #[test]
    fn dn_matching() {
        let subj = name(&[vec![atv(DC_OID, 0x16, "org")], vec![atv(O, 0x13, "Acme")], vec![atv(CN, 0x0c, "bob")]]);
        let der = cert(&subj, &[]);
        let c = parse_cert(&der).expect("parses");
        let dn = subject_dn(&c.subject).expect("dn");
        assert!(dn_equal(&parse_dn("CN=bob, O=Acme, DC=org").expect("dn"), &dn));
        assert!(dn_equal(&parse_dn("cn=bob,o=Acme,dc=org").expect("dn"), &dn));
        assert!(!dn_equal(&parse_dn("O=Acme,CN=bob,DC=org").expect("dn"), &dn));
        assert!(dn_rdns_match(&parse_dn("O=Acme,CN=bob,DC=org").expect("dn"), &dn));
        assert!(!dn_rdns_match(&parse_dn("O=acme,CN=bob,DC=org").expect("dn"), &dn));
        assert_eq!(
            parse_dn("CN=a\\2cb+OU=x ,O=y\\ ").expect("dn"),
            vec![
                vec![("CN".to_string(), "a,b".to_string()), ("OU".to_string(), "x".to_string())],
                vec![("O".to_string(), "y ".to_string())],
            ]
        );
        assert!(parse_dn("alice").is_none());
        assert!(parse_dn("CN=#0c01").is_none());
        // A lone trailing backslash is dropped, as by Go's parser.
        assert_eq!(parse_dn("CN=a\\"), Some(vec![vec![("CN".to_string(), "a".to_string())]]));
        assert!(parse_dn("CN=a\\5").is_none());
        assert!(parse_dn("CN=a\\zz").is_none());
        assert!(parse_dn(",CN=a").is_none());
    }

    #[test]
    fn oids() {
        assert_eq!(oid_string(EMAIL).as_deref(), Some("1.2.840.113549.1.9.1"));
        assert_eq!(oid_string(DC_OID).as_deref(), Some("0.9.2342.19200300.100.1.25"));
        assert_eq!(oid_string(&[0x88, 0x37]).as_deref(), Some("2.999"));
        assert!(oid_string(&[0x88]).is_none());
        assert!(oid_string(&[]).is_none());
        assert!(oid_string(&[0xff; 12]).is_none());
    }

    #[test]
    fn malformed_der_is_refused() {
        let subj = name(&[vec![atv(CN, 0x0c, "x")]]);
        let good = cert(&subj, &[(0x81, "a@b")]);
        assert!(parse_cert(&good).is_some());
        // Every truncation, and every single-byte change, parses or fails
        // without panicking.
        for n in 0..good.len() {
            let _ = parse_cert(&good[..n]);
            assert!(parse_cert(&good[..n]).is_none() || n == good.len());
        }
        for i in 0..good.len() {
            for x in [0x00, 0x1f, 0x30, 0x7f, 0x80, 0x81, 0x84, 0x85, 0xff] {
                let mut m = good.clone();
                m[i] = x;
                let _ = parse_cert(&m).map(|c| (name_string(&c.subject, false), subject_dn(&c.subject)));
            }
        }
        for bad in [
            &[][..],
            &[0x30][..],
            &[0x30, 0x80][..],
            &[0x30, 0x85, 1, 1, 1, 1, 1][..],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x05, 0x30][..],
            &[0x3f, 0x01, 0x00][..],
            &[0x30, 0x02, 0x30, 0x00][..],
        ] {
            assert!(parse_cert(bad).is_none(), "{bad:?}");
        }
        // A non-ASCII e-mail name and a BMPString of odd length.
        assert!(parse_cert(&cert(&subj, &[(0x81, "é@b")])).is_none());
        assert_eq!(value_string(0x1e, &[0, 0x41, 0]), None);
        assert_eq!(value_string(0x1e, &[0, 0x41]).as_deref(), Some("A"));
        assert_eq!(value_string(0x04, b"x"), None);
    }
}
