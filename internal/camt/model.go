package camt

// The XML shapes of camt.052/053/054 that the parser reads. Tags carry no
// namespace, so they match every version (001.01 to 001.13) whatever its
// namespace; elements that moved between versions appear in both places.

type amount struct {
	Value string `xml:",chardata"`
	Ccy   string `xml:"Ccy,attr"`
}

type dateChoice struct {
	Dt   string `xml:"Dt"`
	DtTm string `xml:"DtTm"`
}

// date returns YYYY-MM-DD from Dt or the date part of DtTm.
func (d dateChoice) date() string {
	if d.Dt != "" {
		return d.Dt
	}
	if len(d.DtTm) >= 10 {
		return d.DtTm[:10]
	}
	return ""
}

// status is <Sts>BOOK</Sts> (to 001.06) or <Sts><Cd>BOOK</Cd></Sts> (001.07+).
type status struct {
	Text  string `xml:",chardata"`
	Cd    string `xml:"Cd"`
	Prtry string `xml:"Prtry"`
}

type party struct {
	Nm  string `xml:"Nm"`
	Pty struct {
		Nm string `xml:"Nm"`
	} `xml:"Pty"` // 001.08+: Party40Choice
	Agt struct {
		FinInstnID struct {
			BICFI string `xml:"BICFI"`
			BIC   string `xml:"BIC"`
			Nm    string `xml:"Nm"`
		} `xml:"FinInstnId"`
	} `xml:"Agt"`
}

func (p party) name() string {
	switch {
	case p.Nm != "":
		return p.Nm
	case p.Pty.Nm != "":
		return p.Pty.Nm
	case p.Agt.FinInstnID.Nm != "":
		return p.Agt.FinInstnID.Nm
	case p.Agt.FinInstnID.BICFI != "":
		return p.Agt.FinInstnID.BICFI
	}
	return p.Agt.FinInstnID.BIC
}

type accountID struct {
	ID struct {
		IBAN string `xml:"IBAN"`
		Othr struct {
			ID string `xml:"Id"`
		} `xml:"Othr"`
		PrtryAcct struct { // 001.01
			ID string `xml:"Id"`
		} `xml:"PrtryAcct"`
		BBAN string `xml:"BBAN"` // 001.01
		UPIC string `xml:"UPIC"` // 001.01
	} `xml:"Id"`
	Ccy string `xml:"Ccy"`
}

func (a accountID) id() string {
	return first(a.ID.IBAN, a.ID.Othr.ID, a.ID.PrtryAcct.ID, a.ID.BBAN, a.ID.UPIC)
}

type bankTxCode struct {
	Domn struct {
		Cd   string `xml:"Cd"`
		Fmly struct {
			Cd        string `xml:"Cd"`
			SubFmlyCd string `xml:"SubFmlyCd"`
		} `xml:"Fmly"`
	} `xml:"Domn"`
	Prtry struct {
		Cd   string `xml:"Cd"`
		Issr string `xml:"Issr"`
	} `xml:"Prtry"`
}

func (b bankTxCode) code() string {
	if b.Domn.Cd != "" {
		return b.Domn.Cd + "/" + b.Domn.Fmly.Cd + "/" + b.Domn.Fmly.SubFmlyCd
	}
	return b.Prtry.Cd
}

type amountDetails struct {
	InstdAmt struct {
		Amt amount `xml:"Amt"`
	} `xml:"InstdAmt"`
	TxAmt struct {
		Amt amount `xml:"Amt"`
	} `xml:"TxAmt"`
}

type charges struct {
	TtlChrgsAndTaxAmt *amount `xml:"TtlChrgsAndTaxAmt"`
	Rcrd              []struct {
		Amt       amount `xml:"Amt"`
		CdtDbtInd string `xml:"CdtDbtInd"`
	} `xml:"Rcrd"`
}

type txDetails struct {
	Refs struct {
		MsgID       string `xml:"MsgId"`
		AcctSvcrRef string `xml:"AcctSvcrRef"`
		PmtInfID    string `xml:"PmtInfId"`
		InstrID     string `xml:"InstrId"`
		EndToEndID  string `xml:"EndToEndId"`
		UETR        string `xml:"UETR"`
		TxID        string `xml:"TxId"`
		MndtID      string `xml:"MndtId"`
		ChqNb       string `xml:"ChqNb"`
	} `xml:"Refs"`
	Amt       *amount       `xml:"Amt"` // 001.03+
	CdtDbtInd string        `xml:"CdtDbtInd"`
	AmtDtls   amountDetails `xml:"AmtDtls"`
	BkTxCd    bankTxCode    `xml:"BkTxCd"`
	Chrgs     charges       `xml:"Chrgs"`
	RltdPties struct {
		Dbtr      party     `xml:"Dbtr"`
		Cdtr      party     `xml:"Cdtr"`
		UltmtDbtr party     `xml:"UltmtDbtr"`
		UltmtCdtr party     `xml:"UltmtCdtr"`
		DbtrAcct  accountID `xml:"DbtrAcct"`
		CdtrAcct  accountID `xml:"CdtrAcct"`
	} `xml:"RltdPties"`
	RltdAgts struct {
		DbtrAgt party `xml:"DbtrAgt"`
		CdtrAgt party `xml:"CdtrAgt"`
	} `xml:"RltdAgts"`
	RmtInf struct {
		Ustrd []string `xml:"Ustrd"`
		Strd  []struct {
			CdtrRefInf struct {
				Ref string `xml:"Ref"`
			} `xml:"CdtrRefInf"`
			RfrdDocInf []struct {
				Nb string `xml:"Nb"`
			} `xml:"RfrdDocInf"`
			AddtlRmtInf []string `xml:"AddtlRmtInf"`
		} `xml:"Strd"`
	} `xml:"RmtInf"`
	RtrInf struct {
		Rsn struct {
			Cd    string `xml:"Cd"`
			Prtry string `xml:"Prtry"`
		} `xml:"Rsn"`
		AddtlInf []string `xml:"AddtlInf"`
	} `xml:"RtrInf"`
	AddtlTxInf string `xml:"AddtlTxInf"`
}

type entryDetails struct {
	Btch *struct {
		NbOfTxs   string  `xml:"NbOfTxs"`
		TtlAmt    *amount `xml:"TtlAmt"`
		CdtDbtInd string  `xml:"CdtDbtInd"`
	} `xml:"Btch"`
	TxDtls []txDetails `xml:"TxDtls"`
}

type entry struct {
	NtryRef      string         `xml:"NtryRef"`
	Amt          amount         `xml:"Amt"`
	CdtDbtInd    string         `xml:"CdtDbtInd"`
	RvslInd      string         `xml:"RvslInd"`
	Sts          status         `xml:"Sts"`
	BookgDt      dateChoice     `xml:"BookgDt"`
	ValDt        dateChoice     `xml:"ValDt"`
	AcctSvcrRef  string         `xml:"AcctSvcrRef"`
	BkTxCd       bankTxCode     `xml:"BkTxCd"`
	AmtDtls      amountDetails  `xml:"AmtDtls"`
	Chrgs        charges        `xml:"Chrgs"`
	NtryDtls     []entryDetails `xml:"NtryDtls"`
	AddtlNtryInf string         `xml:"AddtlNtryInf"`
}

type balance struct {
	Tp struct {
		CdOrPrtry struct {
			Cd    string `xml:"Cd"`
			Prtry string `xml:"Prtry"`
		} `xml:"CdOrPrtry"`
	} `xml:"Tp"`
	Amt       amount     `xml:"Amt"`
	CdtDbtInd string     `xml:"CdtDbtInd"`
	Dt        dateChoice `xml:"Dt"`
}
