// Types of the web client, in two parts:
//
// 1. The REST API (/api/...): derived from src/lib/api-types.ts, which openapi-typescript generates
//    from the server's contract docs/openapi.json (`npm run gen:api`; tests/api-types.test.ts
//    fails while it is stale). Do not hand-write REST shapes: alias the generated schema under
//    the name the spec uses.
// 2. The signaling contract (socket.io events, docs/signaling.md): not in the OpenAPI spec, so
//    written by hand below; keep it in step with docs/signaling.md.

import type { components, paths } from './api-types'

// ─── 1. REST API (generated from docs/openapi.json) ─────────────────────────────────────────

type Schemas = components['schemas']
type Method = 'get' | 'put' | 'post' | 'delete' | 'patch'
type JsonBody<R> = R extends { content: { 'application/json': infer B } } ? B : never

/**
 * The JSON a successful call answers, e.g. ApiResponse<'/api/join/{token}', 'get'>. The server
 * inlines a route's top-level response model instead of naming it under components, so those
 * shapes (JoinOut, StatsOut, ...) are reached through the path.
 */
export type ApiResponse<P extends keyof paths, M extends Method & keyof paths[P]> =
  NonNullable<paths[P][M]> extends { responses: infer R } ? JsonBody<R[Extract<keyof R, 200 | 201 | 202>]> : never

// Staff, sessions, cases
export type UserOut = Schemas['UserOut']
export type MeOut = ApiResponse<'/api/auth/me', 'get'>
export type CaseOut = Schemas['CaseOut']
export type PartyOut = Schemas['PartyOut']
export type InviteOut = Schemas['InviteOut']
export type InviteLinkOut = ApiResponse<'/api/sessions/{session_id}/invites', 'post'>
export type TerminalOut = Schemas['TerminalOut']
export type PackageStatusOut = Schemas['PackageStatusOut']

export type ParticipantOut = Schemas['ParticipantOut']
export type SessionOut = Schemas['SessionOut']

// Joining by link (parties) and the kiosk terminal
export type JoinSessionOut = Schemas['JoinSessionOut']
export type IceServerOut = Schemas['IceServerOut']
/** The name roomClient.ts uses for the ICE servers of GET /api/join/{token}. */
export type IceServer = IceServerOut
export type JoinOut = ApiResponse<'/api/join/{token}', 'get'>
export type PartyRecordOut = ApiResponse<'/api/join/{token}/record', 'get'>
export type ReviewOut = Schemas['ReviewOut']
export type TerminalLoginOut = ApiResponse<'/api/terminal/login', 'post'>
export type ScheduleItemOut = Schemas['ScheduleItemOut']
export type PlaylistItemOut = Schemas['PlaylistItemOut']

// Transcript and the record
export type SegmentOut = Schemas['SegmentOut']
export type EditOut = Schemas['EditOut']
export type TranscriptOut = ApiResponse<'/api/sessions/{session_id}/transcript', 'get'>
export type PartyStateOut = Schemas['PartyStateOut']
export type RecordOut = ApiResponse<'/api/sessions/{session_id}/record', 'get'>

// Recordings
export type RecordedSessionOut = Schemas['RecordedSessionOut']
export type RecordingRowOut = Schemas['RecordingRowOut']
export type TrackOut = Schemas['TrackOut']
export type ManifestDocumentOut = Schemas['ManifestDocumentOut']
export type ManifestSummary = Schemas['ManifestSummary']
export type RecordingDetailOut = Schemas['RecordingDetailOut']
export type SessionRecordingsOut = ApiResponse<'/api/recordings/sessions/{session_id}', 'get'>
export type LinkOut = Schemas['LinkOut']
export type JobOut = Schemas['JobOut']
/** POST /api/recordings/{id}/verify (the spec's VerifyOut of server/retrieval/schemas.py). */
export type RecordingVerifyOut = ApiResponse<'/api/recordings/{recording_id}/verify', 'post'>

// Governance statistics
export type StatsOut = ApiResponse<'/api/network/stats', 'get'>
export type GroupStats = Schemas['GroupStats']
export type AreaStats = Schemas['AreaStats']
export type MonthStats = Schemas['MonthStats']

// ─── 2. Signaling contract (socket.io; docs/signaling.md) — hand-written ─────────────────────

// The payloads of the socket.io events the client receives, and the acks of those it emits:
//   room_state → RoomState (RoomParticipant, IdentityView)   agreement_state → {agreement: AgreementView}
//   chat → ChatMessage   caption → Caption   any emit's ack → Ack
// (`transcript_update` carries a REST SegmentOut, as docs/signaling.md says.)

export type Presence = 'lobby' | 'admitted' | 'reconnecting' | 'left' | 'denied' | 'removed'

export interface RoomParticipant {
  participant_id: string
  kind: 'mediator' | 'clerk' | 'party' | 'terminal'
  display_name: string
  role_label: string
  presence: Presence
  group: string
  consented: boolean
  audio_muted: boolean
  video_muted: boolean
  hand_raised: boolean
  identity?: IdentityView | null
  // A company party: its signature names the natural person signing and their capacity.
  organisation?: boolean
}

export interface IdentityView {
  participant_id: string
  id_masked: string
  submitted_at: string | null
  // "participant:<pid>" of whoever entered the number (the party, staff or a terminal)
  submitted_by?: string | null
  verified: boolean
  method: string | null
  verified_by: string | null
  verifier_name: string
  verified_at: string | null
  still_sha256: string | null
  declared_name?: string
}

export type AgreementKind = 'agreement' | 'failure_record'

export interface AgreementSignatureView {
  participant_id: string
  name: string
  role: string
  version: number
  text_sha256: string
  signed_at: string
  identity_verified: boolean
  // An organisation's signature: the natural person who signed and in what capacity.
  signatory_name?: string | null
  signatory_capacity?: 'legal_representative' | 'authorised_agent' | null
}

export interface AgreementView {
  kind: AgreementKind
  title: string
  status: 'draft' | 'signing' | 'effective'
  // The version this reader is shown (a party: the one shown to their group); null when the
  // reader cannot read the text.
  version: number | null
  text?: string
  text_sha256: string | null
  signed: number
  required: number
  signers: string[]
  signatures: AgreementSignatureView[]
  audience: string[]
  effective_at: string | null
  pdf_sha256: string | null
  readable: boolean
  // Signers whose signature an edit voided and who have not signed again (while signing).
  voided?: string[]
  // Whether this reader may sign now (signer, signing, reads the current version, not signed it).
  signable?: boolean
  // Staff only: the version each audience group is shown.
  shown?: Record<string, number>
  // Staff only: the groups a save by this staff member reaches live ([]: staff only).
  edit_reach?: string[]
  // Staff only: audience groups still shown an older version.
  stale_groups?: string[]
}

export interface RoomState {
  session_id: string
  case_number: string
  started: boolean
  ended: boolean
  recording: boolean
  transcription: boolean
  in_caucus: boolean
  groups: { group_id: string; name: string }[]
  participants: RoomParticipant[]
  you: RoomParticipant | null
}

export interface ChatMessage {
  from: string
  display_name: string
  role_label: string
  text: string
  at: string
  group: string
}

export interface Caption {
  speaker_id?: string
  speaker?: string
  display_name?: string
  role?: string
  role_label?: string
  text: string
  final?: boolean
}

export interface Ack<T = Record<string, unknown>> {
  ok: boolean
  error?: { code: string; message: string }
  [k: string]: unknown
  data?: T
}

// Client-side: an alert the room client builds from a recording_alert / transcript_alert /
// room_notice event (`id` and `at` are local).
export interface Alert {
  id: number
  kind: 'recording' | 'transcript' | 'room'
  reason: string
  message: string
  at: number
}
