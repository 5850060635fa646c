package money

// minorUnits lists the ISO 4217 currencies (active codes, plus the funds and
// precious-metal codes banks report) whose minor unit is not 2 decimals.
// X-codes without a minor unit (XAU, XAG, XDR …) are treated as 0 by ISO; we
// list them so that a statement in them still parses.
var minorUnits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
	"XPF": 0, "XAU": 0, "XAG": 0, "XPT": 0, "XPD": 0, "XDR": 0, "XSU": 0, "XUA": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
	// Historical codes (old statements, archives).
	"ITL": 0, "ESP": 0, "BEF": 0, "LUF": 0, "GRD": 0, "PTE": 0,
}

// historical are withdrawn ISO 4217 codes that old statements still carry.
const historical = "DEM FRF ITL NLG BEF ATS ESP PTE FIM IEP GRD LUF XEU CSK SIT SKK EEK LTL LVL CYP MTL"

// iso4217 is every active ISO 4217 alphabetic code (list of 2026), so that a
// typo such as "EUX" is caught at ingestion instead of creating a new account.
const iso4217 = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV " +
	"BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK " +
	"DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK " +
	"HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK " +
	"LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD " +
	"NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR " +
	"SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD " +
	"TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD " +
	"XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL"

var known = func() map[string]bool {
	m := make(map[string]bool, 200)
	for _, list := range []string{iso4217, historical} {
		for i := 0; i+3 <= len(list); i += 4 {
			m[list[i:i+3]] = true
		}
	}
	return m
}()

// MinorUnits returns the number of decimals of the currency's minor unit
// (2 for most, 0 for JPY, 3 for KWD …). Unknown codes get 2.
func MinorUnits(currency string) int {
	if n, ok := minorUnits[currency]; ok {
		return n
	}
	return 2
}

// KnownCurrency reports whether code is an ISO 4217 alphabetic code, current
// or historical (DEM, FRF … appear in archived statements).
func KnownCurrency(code string) bool { return known[code] }

// Format returns d with the currency's minor-unit decimals, or more when d
// has significant digits beyond them: EUR 5 -> "5.00", EUR 18.150 -> "18.15",
// JPY 1200 -> "1200", EUR 0.125 -> "0.125".
func Format(d Decimal, currency string) string {
	mu := MinorUnits(currency)
	if d.Scale() < mu {
		if r, err := d.Rescale(mu); err == nil {
			return r.String()
		}
	}
	return d.Trim(mu).String()
}

// ValidCode reports whether code is shaped like an ISO 4217 alphabetic
// code: three upper-case letters A-Z (known or not).
func ValidCode(code string) bool {
	if len(code) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return false
		}
	}
	return true
}
