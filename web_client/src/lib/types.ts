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

export interface Alert {
  id: number
  kind: 'recording' | 'transcript' | 'room'
  reason: string
  message: string
  at: number
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

export interface ParticipantOut {
  id: string
  kind: string
  display_name: string
  role_label: string
  user_id: string | null
  party_id: string | null
  terminal_id: string | null
}

export interface JoinSession {
  id: string
  court_name: string
  case_number: string
  case_type: string
  scheduled_at: string
  status: string
  terminal_name: string | null
}

export interface IceServer {
  urls: string[]
  username?: string | null
  credential?: string | null
}

export interface JoinInfo {
  session: JoinSession
  participant: ParticipantOut
  expires_at: string
  ice_servers: IceServer[]
  signaling_path: string
  recording_notice: string
}

export interface SessionOut {
  id: string
  court_id: string
  case_id: string
  scheduled_at: string
  duration_minutes: number
  mediator_id: string
  clerk_id: string | null
  terminal_id: string | null
  status: 'scheduled' | 'live' | 'ended' | 'cancelled'
  outcome: string | null
  outcome_note: string
  record_caucus: boolean
  started_at: string | null
  ended_at: string | null
  participants: ParticipantOut[]
}

export interface UserOut {
  id: string
  court_id: string
  username: string
  display_name: string
  role: 'admin' | 'judge' | 'mediator' | 'clerk'
  active: boolean
}

export interface ChatMessage {
  from: string
  display_name: string
  role_label: string
  text: string
  at: string
  group: string
}

export interface TranscriptSegment {
  id: string
  document: string
  kind: 'speech' | 'note' | string
  speaker_participant_id: string | null
  speaker_name: string
  speaker_role: string
  start_at: string
  end_at: string
  text: string
  asr_text: string
  status: string
  updated_at: string | null
  updated_by: string | null
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
