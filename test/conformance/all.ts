// Every conformance case, in one list: run on Node by test/conformance.test.ts and inside XS by
// test/xs/conformance.test.ts.
import type { ConformanceCase } from "./case";
import { cborCases } from "./cbor.cases";
import { coseCases } from "./cose.cases";
import { doorCases } from "./doors.cases";
import { publicationCases } from "./publications.cases";
import { sessionCases } from "./session.cases";
import { suitCases } from "./suit.cases";

export const allCases: ConformanceCase[] = [...cborCases, ...coseCases, ...doorCases, ...publicationCases, ...sessionCases, ...suitCases];
