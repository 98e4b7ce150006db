//! SMS PDU codec (3GPP TS 23.040 / 23.038): SMS-SUBMIT encoding, SMS-DELIVER and
//! SMS-STATUS-REPORT decoding, reassembly of concatenated messages.
