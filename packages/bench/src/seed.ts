// Profiles for the read scenarios, written straight into the scenario's database with one
// INSERT ... SELECT per batch (signing up 100,000 users through the API would take minutes and
// measure scrypt, not reads). Ids come back in insertion order so that a miss run can read each
// profile exactly once.
import pg from 'pg';

export class ProfileSeeder {
  private readonly pool: pg.Pool;
  private seeded = 0;

  constructor(databaseUrl: string) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    // An idle connection ended by the server (the scenario's database dropped WITH (FORCE) while
    // this pool still holds one) makes the pool emit 'error': with no listener that ended the
    // bench. The next query opens a new connection.
    this.pool.on('error', () => undefined);
  }

  /** Inserts `count` users with profiles and returns their ids. */
  async seed(count: number): Promise<string[]> {
    const from = this.seeded;
    this.seeded += count;
    const { rows } = await this.pool.query<{ id: string }>(
      `WITH u AS (
         INSERT INTO users (id, email, password_hash)
         SELECT gen_random_uuid(), 'bench-' || i || '@example.com', 'not-a-hash'
           FROM generate_series($1::int, $2::int) AS i
         RETURNING id, email
       ), p AS (
         INSERT INTO profiles (user_id, display_name, bio, avatar_url)
         SELECT id, 'Bench User ' || split_part(email, '@', 1),
                'Reads profiles all day long, for science.',
                'https://example.com/avatars/' || id || '.png'
           FROM u
         RETURNING user_id
       )
       SELECT user_id AS id FROM p`,
      [from + 1, from + count],
    );
    return rows.map((r) => r.id);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
