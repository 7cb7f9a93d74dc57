package emv

// The operation messages of 2.3.1 (5.11, Annex B Tables B.10 and B.11): the DS informs the ACS (alerts,
// certificate expiry, ...) with an OReq, and the ACS acknowledges with an ORes. This ACS acts on none
// of them, so it reads only what it needs to answer: the OReq's identity is checked, its content
// (opCategory, opSeverity, opDescription, opExpDate, opSeq, opPriorTransRef) is not validated beyond
// being JSON, and the ORes says 03 (action not supported or not executed). 2.1.0 and 2.2.0 have no
// operation messages: an OReq in those versions is not a message type of theirs (Erro 101).

var oreqElements231 = []Element{
	{Name: "messageType", Type: String, Min: 4, Max: 4, Values: &Enum{OK: "OReq"}, Inc: Required, Ref: "2.3.1 Table B.10"},
	{Name: "messageVersion", Type: String, Min: 5, Max: 8, Inc: Required, Ref: "2.3.1 Table B.10"},
	{Name: "dsTransID", Type: String, Min: 36, Max: 36, Format: UUID, Inc: Required, Ref: "2.3.1 Table B.10"},
	{Name: "messageExtension", Type: ObjectArray, Min: 1, Max: 15, Sub: areqExtensionSub, Inc: Optional, Ref: "2.3.1 A.12"},
}

var oresElements231 = []Element{
	{Name: "messageType", Type: String, Min: 4, Max: 4, Values: &Enum{OK: "ORes"}, Inc: Required, Ref: "2.3.1 Table B.11"},
	{Name: "messageVersion", Type: String, Min: 5, Max: 8, Inc: Required, Ref: "2.3.1 Table B.11"},
	{Name: "dsTransID", Type: String, Min: 36, Max: 36, Format: UUID, Inc: Required, Ref: "2.3.1 Table B.11"},
	{Name: "acsTransID", Type: String, Min: 36, Max: 36, Format: UUID, Inc: Required, Ref: "2.3.1 Table B.11 (ACS)"},
	{Name: "acsReferenceNumber", Type: String, Max: 32, Inc: Required, Ref: "2.3.1 Table B.11 (ACS)"},
	// 01 received, 02 sequence broken, 03 action not supported or not executed.
	{Name: "opStatus", Type: String, Min: 2, Max: 2, Values: &Enum{OK: "01-03", EMVCo: "04-79", DS: "80-99"}, Inc: Required, Ref: "2.3.1 Table B.11"},
}

// OReqTables and OResTables: 2.3.1 only.
var (
	OReqTables = map[Version]Table{V231: {Type: TypeOReq, Version: V231, Elements: oreqElements231, Source: "EMV 3DS 2.3.1 5.11, Table B.10"}}
	OResTables = map[Version]Table{V231: {Type: TypeORes, Version: V231, Elements: oresElements231, Source: "EMV 3DS 2.3.1 5.11, Table B.11"}}
)
