/** Tags on each group's EFS access point: how the launcher finds it (./efs-access-points.ts). */
export const EFS_ACCESS_POINT_TAGS = { analysis: 'ncaas:analysis', group: 'ncaas:group' } as const;
